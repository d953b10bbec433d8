"""Digits: the drawings kept from the Draw page, by collection: thumbnails per digit, delete a wrong
entry, rename or delete a collection, export it (PNGs by digit + MNIST's IDX files) or import one.

Everything is in mnist_core.drawings (one SQLite file in the runs folder); this page lays it out.
"""

import streamlit as st

import lab_ui
from mnist_core import checkpoints, drawings, images, inference, recipes

st.title("Your digits")
st.caption(
    "The drawings you kept on the Draw page (Right, keep it / Wrong? It's a ...), by collection. "
    "Every fifth drawing of each digit is held out: fine-tuning never trains on it, so it can measure you."
)
try:
    store = drawings.DrawingStore()
except (drawings.StoreError, OSError) as exc:
    st.error(f"The drawings cannot be opened: {exc}")
    st.stop()


def import_ui(current: str | None) -> None:
    with st.expander("Import a collection (a ZIP exported here, or PNGs in folders 0/ ... 9/)"):
        name = st.text_input("Into the collection", current or drawings.DEFAULT_COLLECTION, key="dig_import_name")
        upload = st.file_uploader("ZIP file", type=["zip"], key="dig_import")
        if upload and st.button("Import", key="dig_import_go"):
            try:
                n = store.import_zip(name, upload.getvalue())
                st.success(f"Imported {n} drawings into *{name.strip()}*.")
            except drawings.StoreError as exc:
                st.error(f"Nothing was imported: {exc}")


def rename(name: str) -> None:  # callbacks run before the widgets: they may change the picked collection
    try:
        store.rename(name, st.session_state[f"dig_rename_{name}"])
        st.session_state["dig_collection"] = st.session_state[f"dig_rename_{name}"].strip()
    except drawings.StoreError as exc:
        st.session_state["dig_error"] = str(exc)


def delete_collection(name: str) -> None:
    if st.session_state.get(f"dig_confirm_{name}"):
        st.session_state["dig_done"] = f"Deleted {name} ({store.delete_collection(name)} drawings)."
        st.session_state.pop("dig_collection", None)


def manage_ui(name: str) -> None:
    left, right = st.columns(2)
    with left.popover("Rename"):
        st.text_input("New name", name, key=f"dig_rename_{name}")
        st.button("Rename", key=f"dig_rename_go_{name}", on_click=rename, args=(name,))
    with right.popover("Delete the collection"):
        st.warning(f"This deletes *{name}* and all its drawings; it cannot be undone.")
        confirmed = st.checkbox(f"Yes, delete {name}", key=f"dig_confirm_{name}")
        st.button(
            "Delete",
            type="primary",
            key=f"dig_delete_{name}",
            disabled=not confirmed,
            on_click=delete_collection,
            args=(name,),
        )
    st.download_button(
        "Export as ZIP (PNGs by digit + MNIST IDX files)",
        store.export_zip(name),
        file_name=f"{name}.zip",
        mime="application/zip",
        key=f"dig_export_{name}",
    )


def grid_ui(name: str) -> None:
    held = {d.id for d in store.split(name)[1]}
    for digit in range(10):
        kept = store.drawings(name, digit)
        st.markdown(
            f"**{digit}** · {len(kept)} drawing(s)"
            + ("" if len(kept) >= 3 else " · fewer than 3: draw more to fine-tune on it")
        )
        if not kept:
            continue
        cols = st.columns(12)
        for i, d in enumerate(kept):
            with cols[i % 12]:
                st.image(
                    images.enlarge(d.x28 / 255.0, 56),
                    caption="held out"
                    if d.id in held
                    else (f"read {d.predicted}" if d.predicted is not None else None),
                )
                if st.button("✕", key=f"dig_del_{d.id}", help="delete this drawing"):
                    store.delete(d.id)
                    st.rerun()


def finetune_ui(name: str) -> None:
    st.subheader("Teach a model your handwriting")
    if problem := drawings.finetune_problem(store, name):
        st.info(f"Not yet: {problem}.")
        return
    entries = {e.name: e for e in lab_ui.model_choices()}
    if not entries:
        st.info("No model to start from: train one on the Train page first.")
        return
    default = inference.default_model_name()
    start = st.selectbox(
        "Start from",
        list(entries),
        index=list(entries).index(default) if default in entries else 0,
        key="dig_ft_from",
        help="a shipped model or one of your runs; it is never overwritten",
    )
    st.caption(
        f"About 300 steps on *{name}* mixed with MNIST (seconds to a minute on a laptop), saved as a new "
        f'model "{start} + {name}"; the held-out drawings and MNIST\'s test set measure it before and after.'
    )
    if st.button(f"Fine-tune {start} on {name}", type="primary", key="dig_ft_go"):
        try:
            arch = lab_ui.predictor(start).arch
            cfg = recipes.finetune(str(entries[start].path), arch, name)
            job = lab_ui.job_runner().submit(cfg, f"{start} + {name}", owner=lab_ui.visitor_token())
            st.session_state["watch"] = job.id  # the Train page shows its live charts
        except (ValueError, checkpoints.CheckpointError) as exc:
            st.error(f"Could not start: {exc}")
    finetune_results_ui(name)


def finetune_results_ui(name: str) -> None:
    """The fine-tuning runs of this collection: status, and held-out / MNIST accuracy before and after."""
    runs = [j for j in lab_ui.job_runner().jobs() if j.config.collection == name]
    if not runs:
        return
    lab_ui.page_link("app_pages/train.py", label="Watch a fine-tuning run's live charts on the Train page", icon="🏋️")
    rows = []
    for job in runs:
        s, seen = job.snapshot(), {}
        if s["checkpoint"]:
            try:
                seen = checkpoints.read(s["checkpoint"])["extra"].get("data_seen", {}).get("collection", {})
            except checkpoints.CheckpointError:
                seen = {}
        rows.append(
            {
                "model": job.name,
                "status": s["status"],
                "held out before": seen.get("held_out_before"),
                "held out after": seen.get("held_out_after"),
                "MNIST before": seen.get("mnist_before"),
                "MNIST after": s["test_accuracy"],
            }
        )
    pct = st.column_config.NumberColumn(format="percent")
    st.dataframe(rows, hide_index=True, column_config={k: pct for k in list(rows[0])[2:]})


for key, show in (("dig_error", st.error), ("dig_done", st.success)):
    if message := st.session_state.pop(key, None):
        show(message)
collections = store.collections()
if not collections:
    st.info("No drawings kept yet: draw on the Draw page and press **Right, keep it** or pick the digit you meant.")
    import_ui(None)
    st.stop()
names = list(collections)
if st.session_state.get("dig_collection") not in names:
    st.session_state["dig_collection"] = (
        drawings.DEFAULT_COLLECTION if drawings.DEFAULT_COLLECTION in names else names[0]
    )
name = st.selectbox("Collection", names, key="dig_collection", format_func=lambda n: f"{n} ({collections[n]})")
manage_ui(name)
import_ui(name)
finetune_ui(name)
grid_ui(name)
