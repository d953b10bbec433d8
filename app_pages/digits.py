"""Digits: the drawings kept from the Draw page, by collection: thumbnails of one digit at a time, a page at
a time (so the page costs the same for 10 drawings or 20,000), delete a wrong entry, rename or delete a
collection (its owner, or the lab's operator), export it (PNGs by digit + MNIST's IDX files) or import one.

Everything is in mnist_core.drawings (one SQLite file in the runs folder); this page lays it out.
"""

import streamlit as st

import lab_ui
from mnist_core import checkpoints, drawings, finetuning, images, inference, names, recipes

PAGE_SIZE = 48  # thumbnails per page (four rows of twelve)

st.title("Your digits")
st.caption(
    "The drawings you kept on the Draw page (Right, keep it / Wrong? It's ...), by collection, and those you "
    "kept as not a digit. Every fifth drawing of each digit is held out: fine-tuning never trains on it, so it "
    'can measure you. A model that can say "not a digit" also learns your non-digits when fine-tuned.'
)
try:
    store = drawings.DrawingStore()
except (drawings.StoreError, OSError) as exc:
    st.error(f"The drawings cannot be opened: {lab_ui.problem(exc)}")
    st.stop()


def import_ui(current: str | None) -> None:
    with st.expander("Import a collection (a ZIP exported here, or PNGs in folders 0/ ... 9/ and not_a_digit/)"):
        # its first value only: a default that followed the page (another visitor's collection appearing) would
        # reset what the visitor typed
        st.session_state.setdefault("dig_import_name", current or drawings.DEFAULT_COLLECTION)
        name = st.text_input("Into the collection", key="dig_import_name")
        upload = st.file_uploader("ZIP file", type=["zip"], key="dig_import")
        if upload and st.button("Import", key="dig_import_go"):
            # each progress update is a point where a closed tab, or a click on Cancel, stops the import
            st.button("Cancel", key="dig_import_cancel", help="stops the import: nothing of it is kept")
            bar = st.progress(0.0, "Reading the ZIP...")

            def progress(done: int, total: int) -> None:  # Streamlit stops the script here for a closed tab
                bar.progress(done / max(total, 1), f"Reading {done:,} / {total:,}")

            try:
                n = store.import_zip(name, upload.getvalue(), by=lab_ui.visitor_token(), progress=progress)
                bar.empty()
                st.success(f"Imported {n} drawings into {lab_ui.name_md(name.strip())}.")
            except (drawings.StoreError, OSError) as exc:
                bar.empty()
                st.error(f"Nothing was imported: {lab_ui.problem(exc)}")


def _act(action, done: str) -> None:
    """A button's callback: do it, or keep why not for the page to say."""
    try:
        action()
        st.session_state["dig_done"] = done
    except (drawings.StoreError, OSError) as exc:
        st.session_state["dig_error"] = lab_ui.problem(exc)


def rename(name: str) -> None:  # callbacks run before the widgets: they may change the picked collection
    new = st.session_state[f"dig_rename_{name}"].strip()
    _act(lambda: store.rename(name, new, by=lab_ui.acting_as()), f"Renamed to {lab_ui.name_md(new)}.")
    if "dig_error" not in st.session_state:
        st.session_state["dig_collection"] = new


def delete_collection(name: str) -> None:
    if st.session_state.get(f"dig_confirm_{name}"):
        _act(lambda: store.delete_collection(name, by=lab_ui.acting_as()), f"Deleted {lab_ui.name_md(name)}.")
        st.session_state.pop("dig_collection", None)


def manage_ui(info) -> None:
    name = info.name
    if lab_ui.may_change(info.owner):
        left, right = st.columns(2)
        with left.popover("Rename"):
            st.text_input("New name", name, key=f"dig_rename_{name}", max_chars=drawings.NAME_MAX)
            st.button("Rename", key=f"dig_rename_go_{name}", on_click=rename, args=(name,))
        with right.popover("Delete the collection"):
            st.warning(f"This deletes {lab_ui.name_md(name)} and all its drawings; it cannot be undone.")
            confirmed = st.checkbox("Yes, delete it", key=f"dig_confirm_{name}")
            st.button(
                "Delete",
                type="primary",
                key=f"dig_delete_{name}",
                disabled=not confirmed,
                on_click=delete_collection,
                args=(name,),
            )
    else:
        st.caption(
            f"Made by {lab_ui.owner_label(info.owner)}: only they (or the lab's operator) may rename or delete "
            "it. You may add your drawings to it, and delete the ones you kept."
        )
    st.download_button(
        "Export as ZIP (PNGs by digit + MNIST IDX files)",
        lambda: store.export_zip(name),  # made when clicked, not on every rerun
        file_name=f"{names.folder_name(name)}.zip",
        mime="application/zip",
        key=f"dig_export_{name}",
        on_click="ignore",
    )


def grid_ui(info, counts: dict[int, int]) -> None:
    lines = [
        f"**{drawings.label_name(d)}** · {n} drawing(s)"
        + (
            f" · fewer than {finetuning.MIN_PER_DIGIT}: draw more to fine-tune on it"
            if finetuning.too_few(d, n)
            else ""
        )
        for d, n in counts.items()
        if n
    ]
    if missing := [str(d) for d, n in counts.items() if not n]:
        lines.append(f"Not drawn yet: {', '.join(missing)}")
    st.markdown("  \n".join(lines))
    shown = [d for d, n in counts.items() if n]
    if not shown:
        return
    if st.session_state.get("dig_digit") not in shown:
        st.session_state["dig_digit"] = shown[0]
    digit = st.segmented_control("Show the drawings of", shown, key="dig_digit", format_func=drawings.label_name)
    if digit is None:
        return
    pages = max(1, -(-counts[digit] // PAGE_SIZE))
    page = 1
    if pages > 1:
        page = st.number_input(f"Page (of {pages})", 1, pages, 1, key=f"dig_page_{digit}")
    mine = lab_ui.acting_as()
    cols = st.columns(12)
    for i, d in enumerate(store.page(info.name, digit, (page - 1) * PAGE_SIZE, PAGE_SIZE)):
        with cols[i % 12]:
            st.image(
                images.enlarge(d.x28 / 255.0, 56),
                caption="held out" if d.held_out else (f"read {d.predicted}" if d.predicted is not None else None),
            )
            if drawings.may_delete(d, info.owner, mine) and st.button(
                "✕", key=f"dig_del_{d.id}", help="delete this drawing"
            ):
                _act(lambda d=d: store.delete(d.id, by=mine), "Deleted the drawing.")
                st.rerun()


def finetune_ui(name: str) -> None:
    st.subheader("Teach a model your handwriting")
    if problem := finetuning.finetune_problem(store, name):
        st.info(f"Not yet: {lab_ui.plain(problem)}.")
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
        f"About 300 steps on {lab_ui.name_md(name)} mixed with MNIST (seconds to a minute on a laptop), saved as "
        f"a new model {lab_ui.name_md(f'{start} + {name}')}; the held-out drawings and MNIST's test set measure "
        "it before and after."
    )
    if st.button("Fine-tune it", type="primary", key="dig_ft_go", help=f"{start} on {name}"):
        try:
            arch = lab_ui.predictor(start).arch
            cfg = recipes.finetune(str(entries[start].path), arch, name)
            job = lab_ui.job_runner().submit(cfg, f"{start} + {name}", owner=lab_ui.visitor_token())
            st.session_state["watch"] = job.id  # the Train page shows its live charts
        except (ValueError, checkpoints.CheckpointError, drawings.StoreError, OSError) as exc:
            st.error(f"Could not start: {lab_ui.problem(exc)}")
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


# The import's place comes first and never moves: what is drawn above a widget names it, so an expander
# below a message or a list that changes (another visitor's first collection) would close on the next rerun.
import_place = st.container()
for key, show in (("dig_error", st.error), ("dig_done", st.success)):
    if message := st.session_state.pop(key, None):
        show(message)
try:
    collections = {c.name: c for c in store.collections_info()}
    with import_place:
        import_ui(st.session_state.get("dig_collection") if collections else None)
    if not collections:
        st.info("No drawings kept yet: draw on the Draw page and press **Right, keep it** or pick the digit you meant.")
        st.stop()
    listed = list(collections)
    if st.session_state.get("dig_collection") not in listed:
        st.session_state["dig_collection"] = (
            drawings.DEFAULT_COLLECTION if drawings.DEFAULT_COLLECTION in listed else listed[0]
        )
    name = st.selectbox(
        "Collection", listed, key="dig_collection", format_func=lambda n: f"{n} ({collections[n].size:,})"
    )
    manage_ui(collections[name])
    counts = store.counts(name)
    finetune_ui(name)
    grid_ui(collections[name], counts)
except (drawings.StoreError, OSError) as exc:
    st.error(f"The drawings cannot be read: {lab_ui.problem(exc)}")
