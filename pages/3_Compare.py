"""Compare: every model side by side; curves, confusion matrices, mistakes; download and upload.

All measuring happens in mnist_core.measure and mnist_core.evaluation, once per checkpoint, cached on disk.
"""

from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

import lab_ui
from mnist_core import checkpoints, compare, data, evaluation, inference, jobs, measure, runs, uploads

st.set_page_config(page_title="Compare · MNIST Lab", page_icon="📊", layout="wide")
lab_ui.sidebar_nav()
st.title("Compare models")
st.caption("Which architecture is best, and why: accuracy, speed, and the digits each one gets wrong.")

N, P, T = st.column_config.NumberColumn, "percent", st.column_config.TextColumn
DASH = "—: see the notes under the table for why a cell is empty."
COLUMNS = {  # row key -> (table header, column config); widths keep each view within a 1400 px window
    "name": ("Model", T(width=150, pinned=True, help="Shipped models by architecture, your runs by name. "
                        "Double-click a cell to read a long name or setting whole.")),
    "test_accuracy": ("Test accuracy", N(format=P, width=100, help="On the full test set, measured here or at the "
                                         "end of training: the network's own reading of each image. The Draw page "
                                         "reads a drawing in four views and averages them for the models made for "
                                         f"drawn input (as the next two columns do). {DASH}")),
    "drawings_accuracy": ("Your drawings", N(format=P, width=100)),  # its help names the collection
    "drawn_accuracy": ("Real handwriting", N(format=P, width=115, help="UNIPEN's benchmark writers (3,469 "
        "pen-drawn digits by 44 writers from Spain, Germany, the UK, Belgium and Canada, never trained on), their "
        f"strokes drawn on the canvas and read as the Draw page reads them (bench/real_handwriting.py). {DASH}")),
    "redrawn_accuracy": ("MNIST re-drawn", N(format=P, width=110, help=f"{measure.DRAWN_N} MNIST test digits "
        f"re-rendered as canvas drawings (seed 0): MNIST's own writers, so it cannot see other hands. {DASH}")),
    "claimed_accuracy": ("Claimed, not measured", N(format=P, width=125, help="What an uploaded file says of "
        "itself, until it is measured on the test set here (never taken as its accuracy, never highlighted)")),
    "params": ("Parameters", N(format="localized", width=90)),
    "latency_ms": ("Latency (ms)", N(format="%.3f", width=90, help="Milliseconds per image, one image at a time "
                                     "on this machine's CPU, measured here")),
    "settings": ("Settings", T(width=250, help="How it was trained: architecture, optimizer and learning rate, "
        "schedule, batch size, epochs (or steps), augmentation, pen data, and what it was fine-tuned from and on")),
    "epochs": ("Epochs", N(format="%.2g", width=65)),
    "train_seconds": ("Training time (s)", N(format="%.1f", width=115, help="Wall-clock seconds of the run on the "
        "machine that trained it, with its own recipe (see Settings). A busy machine (see Timed on) takes many times "
        "longer: compare times only between runs timed on idle cores of the same machine.")),
    "timed_on": ("Timed on", T(width=180, help="The CPU cores and their 1-minute load average when training "
        "ended. The run itself loads about one per core; 'busy' means other work competed with it, so its time "
        "says more about the machine than the model. Checkpoints made before this was recorded say 'load not "
        "recorded'.")),
    "tutorial_mnist": ("Tutorial (MNIST)", N(format=P, width=115, help="The architecture's tutorial's own MNIST "
        "test accuracy, only where it reported one. —: it reported another dataset or measure, or nothing "
        "(see Tutorial reported)")),
    "tutorial_said": ("Tutorial reported", T(width=330, help="What the architecture's tutorial reported: dataset, "
                                              "metric and epochs")),
}
VIEWS = {"Accuracy": ["name", "test_accuracy", "drawings_accuracy", "drawn_accuracy", "redrawn_accuracy",
                      "claimed_accuracy", "params", "latency_ms"],
         "Training": ["name", "settings", "epochs", "train_seconds", "timed_on", "test_accuracy"],
         "Tutorials": ["name", "test_accuracy", "tutorial_mnist", "tutorial_said"]}


def drawings_ui(rows: list[dict]) -> tuple[dict | None, dict, str]:
    """The collection picked above the table: (name -> accuracy, or None without collections), notes, help."""
    found, problem = measure.drawing_collections()
    if problem:
        st.caption(f"Your drawings are not shown: {problem}")
    if not found:
        return None, {}, ""
    name = st.selectbox("Accuracy on your drawings: collection", list(found), key="cmp_collection",
                        format_func=lambda n: f"{n} ({found[n]} drawings)")
    scores, notes, held = measure.collection_accuracies(rows, name)
    return scores, notes, (f"The held-out part of '{name}': {held} drawings (every fifth of each digit, which "
                           f"fine-tuning never trains on), read by each model. {DASH}")


def table_ui(rows: list[dict]) -> None:
    scores, notes, drawings_help = drawings_ui(rows)
    rows = compare.table_rows(rows, scores)
    keys = [k for k in COLUMNS if k != "drawings_accuracy" or scores is not None]
    if not any(r.get("claimed_accuracy") is not None for r in rows):
        keys.remove("claimed_accuracy")
    head = {k: COLUMNS[k][0] for k in keys}
    df = pd.DataFrame([{head[k]: r.get(k) for k in keys} for r in rows])
    top = compare.best(rows)
    bold = "font-weight: bold"  # no colour of its own: readable in both themes
    best_row = "background-color: #dcfce7; color: #14532d"  # its own text colour: readable in the dark theme too
    shade = lambda row: [best_row if top and row["Model"] == top["name"] else ""] * len(row)
    best_of = [head[k] for k in ("test_accuracy", "drawings_accuracy", "drawn_accuracy") if k in head]
    styler = (df.style.apply(shade, axis=1).format(na_rep="—").highlight_max(subset=best_of, props=bold)
              .highlight_min(subset=["Latency (ms)"], props=bold))  # never the training time: recipes differ
    config = {h: COLUMNS[k][1] for k, h in head.items()}
    if "drawings_accuracy" in head:
        config[head["drawings_accuracy"]] = N(format=P, width=100, help=drawings_help)
    view = st.radio("Columns", list(VIEWS), horizontal=True, key="cmp_view", label_visibility="collapsed",
                    help="Which columns the table shows (so that it fits the page); Model stays on the left")
    st.dataframe(styler, hide_index=True, column_config=config, placeholder="—",
                 column_order=[head[k] for k in VIEWS[view] if k in head])
    if top:
        st.caption(f"Best test accuracy: **{top['name']}** ({100 * top['test_accuracy']:.2f}%), highlighted; "
                   "bold marks the best of each accuracy and the lowest latency. Click a header to sort.")
    for note in compare.missing_notes(rows, {k: head[k] for k in VIEWS[view] if k in head}, notes):
        st.caption(note)
    if view == "Training" and (caveat := compare.timing_caveat(rows)):
        st.caption(f"⚠️ {caveat}")


def manage_ui(rows: list[dict]) -> None:
    """Rename or delete one of the user's runs (never a shipped model, never a queued or running job)."""
    busy = {j.name for j in lab_ui.job_runner().jobs() if j.active}
    mine = {r["name"]: r for r in rows if r["source"] == "run" and Path(r["path"]).stem not in busy}
    flash = st.session_state.pop("cmp_flash", None)
    if mine or flash:
        st.subheader("Your runs: rename or delete")
    if flash:
        (st.success if flash[0] else st.error)(flash[1])
    if not mine:
        return
    name = st.selectbox("Run", list(mine), key="cmp_manage_run", help="Your finished runs (shipped models and runs "
                        "still queued or running are not offered)")
    st.caption(f"**{name}**: {compare.settings_text(mine[name])}")
    stem = Path(mine[name]["path"]).stem
    left, right = st.columns(2)
    left.text_input("New name", key="cmp_new_name", max_chars=runs.NAME_LEN)
    left.button("Rename", key="cmp_rename", on_click=_manage, args=("rename", name, stem))
    sure = right.checkbox(f"Delete **{name}** for good (its checkpoint and its record)", key=f"cmp_sure_{stem}")
    right.button("Delete", key="cmp_delete", disabled=not sure, on_click=_manage, args=("delete", name, stem))


def _manage(action: str, name: str, stem: str) -> None:
    """The Rename and Delete buttons' callback (runs before the page, so the table below shows the result)."""
    try:
        if action == "rename":
            new = lab_ui.job_runner().rename_run(stem, st.session_state.get("cmp_new_name", "")).stem
            st.session_state["cmp_pick"] = [new if n == name else n for n in st.session_state.get("cmp_pick", [])]
            st.session_state["cmp_new_name"], st.session_state["cmp_manage_run"] = "", new
            st.session_state["cmp_flash"] = (True, f"Renamed **{name}** to **{new}**.")
        else:
            lab_ui.job_runner().delete_run(stem)
            st.session_state.pop(f"cmp_sure_{stem}", None)
            st.session_state.pop("cmp_manage_run", None)
            st.session_state["cmp_flash"] = (True, f"Deleted **{name}**.")
    except ValueError as exc:
        st.session_state["cmp_flash"] = (False, f"Not done: {exc}")


def curves_ui(picked: list[dict], colors: dict) -> None:
    epochs, steps = pd.DataFrame(compare.epoch_points(picked)), pd.DataFrame(compare.step_points(picked))
    if epochs.empty and steps.empty:
        st.info("The picked models have no training history stored.")
        return
    tabs = st.tabs(["Test accuracy per epoch", "Loss per step, by epoch", "Loss per step, by wall-clock seconds"])
    specs = [(epochs, "epoch", "test_accuracy"), (steps, "epoch", "loss"), (steps, "seconds", "loss")]
    for tab, (df, x, y) in zip(tabs, specs, strict=True):
        if not df.empty:
            fig = px.line(df, x=x, y=y, color="model", markers=y == "test_accuracy", color_discrete_map=colors)
            tab.plotly_chart(fig.update_layout(height=360, legend_title_text=""), width="stretch")


def evaluations_ui(picked: list[dict]) -> dict:
    """Evaluations of the picked models (cached per checkpoint); messages where impossible."""
    evs = {}
    with st.spinner("Evaluating on the test set (once per checkpoint)..."):
        for r in picked:
            try:
                entry = inference.ModelEntry(r["name"], Path(r["path"]), r["source"])
                evs[r["name"]] = evaluation.on_test_set(entry, r.get("dataset") or "mnist")
            except data.DataUnavailable as exc:
                st.info(f"{r['name']}: no confusion matrix or mistakes: {str(exc).splitlines()[0]}. "
                        "The table still shows what its checkpoint records.")
            except (checkpoints.CheckpointError, OSError) as exc:
                st.warning(f"{r['name']}: could not be evaluated: {exc}")
    return evs


def confusion_ui(evs: dict) -> None:
    for col, (name, ev) in zip(st.columns(min(len(evs), 3)) * len(evs), evs.items(), strict=False):
        fig = px.imshow(ev.confusion, text_auto=True, color_continuous_scale="Blues",
                        labels={"x": "predicted", "y": "true", "color": "count"}, x=list(range(10)), y=list(range(10)))
        fig.update_layout(title=f"{name}: {100 * ev.accuracy:.2f}% of {ev.n:,}", height=420, coloraxis_showscale=False)
        col.plotly_chart(fig.update_xaxes(dtick=1).update_yaxes(dtick=1), width="stretch")


def per_class_ui(evs: dict, colors: dict) -> None:
    df = pd.DataFrame([{"model": n, "digit": str(d), "accuracy": float(a)}
                       for n, ev in evs.items() for d, a in enumerate(ev.per_class)])
    fig = px.bar(df, x="digit", y="accuracy", color="model", barmode="group", color_discrete_map=colors)
    low = max(0.0, float(df["accuracy"].min()) - 0.05)
    st.plotly_chart(fig.update_layout(height=360, legend_title_text="").update_yaxes(range=[low, 1]), width="stretch")


def gallery_ui(evs: dict) -> None:
    name = st.selectbox("Mistakes of", list(evs), key="cmp_gallery_model")
    ev = evs[name]
    if not ev.mistakes:
        st.success(f"{name} gets every test digit right.")
        return
    shown = evaluation.gallery(ev, k=24)
    st.caption(f"The {len(shown)} most confident of {ev.mistakes:,} mistakes (confidence of the wrong answer).")
    st.image([img for img, _ in shown], caption=[c for _, c in shown], output_format="PNG")


def files_ui(rows: list[dict]) -> None:
    left, right = st.columns(2)
    if rows:
        name = left.selectbox("Download a model", [r["name"] for r in rows], key="cmp_download_model")
        path = Path(next(r["path"] for r in rows if r["name"] == name))
        left.download_button(f"Download {path.name}", data=path.read_bytes, file_name=path.name,
                             mime="application/octet-stream", on_click="ignore")
    upload = right.file_uploader("Upload a checkpoint made by MNIST Lab (.pt)", key="cmp_upload",
                                 help=f"Up to {uploads.UPLOAD_MAX_BYTES // 2**20} MB. Its accuracy is measured here on "
                                 "the test set, not taken from the file.")
    done = st.session_state.setdefault("cmp_uploads", {})  # file_id -> (ok, message): each file once
    if upload is not None and upload.file_id not in done:
        try:
            saved = uploads.accept_upload(upload.name, upload.getvalue(), runner=lab_ui.job_runner(),
                                          owner=lab_ui.session_token())
            job = next((j for j in lab_ui.job_runner().jobs() if j.path == saved), None)
            done[upload.file_id] = (True, f"{upload.name}: added as run **{saved.stem}**; "
                                    + ("its accuracy is being measured on the test set." if job and job.active else
                                       f"{job.message if job else 'its accuracy is only claimed'}."))
        except checkpoints.CheckpointError as exc:
            done[upload.file_id] = (False, f"Refused {exc}")
        except (OSError, ValueError) as exc:
            done[upload.file_id] = (False, f"{upload.name}: could not be saved ({exc})")
        if done[upload.file_id][0]:
            st.rerun()  # list the new model in the table above
    if upload is not None:
        ok, message = done[upload.file_id]
        (right.success if ok else right.error)(message)


entries = inference.model_entries()
progress = st.empty()
rows, problems = measure.summaries(entries, on_progress=lambda i, n, name: progress.progress(
    i / n, f"Measuring {name} (once per checkpoint: latency, drawn digits)..."))
progress.empty()
for message in problems:
    file, _, why = message.partition(": ")
    st.warning(f"Not listed: {file}: unreadable: {why}")
if not rows:
    st.info("No models yet: train one on the Train page, or upload a checkpoint below.")
else:
    table_ui(rows)
    names = [r["name"] for r in rows]
    palette = px.colors.qualitative.Plotly + px.colors.qualitative.D3
    colors = {n: palette[i % len(palette)] for i, n in enumerate(names)}
    kept = [n for n in st.session_state.get("cmp_pick", []) if n in names]
    st.session_state["cmp_pick"] = kept if "cmp_pick" in st.session_state else [
        r["name"] for r in sorted(rows, key=lambda r: -(r.get("test_accuracy") or 0))[:3]]
    chosen = st.multiselect("Models to compare", names, key="cmp_pick")
    picked = [r for r in rows if r["name"] in chosen]
    if picked:
        st.subheader("Training curves")
        curves_ui(picked, colors)
        evs = evaluations_ui(picked)
        if evs:
            st.subheader("Confusion matrices")
            confusion_ui(evs)
            st.subheader("Per-class accuracy")
            per_class_ui(evs, colors)
            st.subheader("Misclassified test digits")
            gallery_ui(evs)


def measuring_ui() -> None:
    """Progress of uploads being measured; one full rerun when the last ends (the table then shows it)."""
    active = [j for j in lab_ui.job_runner().active() if j.kind == jobs.EVALUATE]
    if not active and st.session_state.get("cmp_measuring"):
        st.session_state["cmp_measuring"] = False
        st.rerun()
    st.session_state["cmp_measuring"] = bool(active)
    for job in active:
        s = job.snapshot()
        st.progress(s["progress"], text=f"Measuring the upload **{s['name']}** on the test set "
                                        f"(batch {s['step']} / {s['total_steps'] or '?'})")


measuring = any(j.kind == jobs.EVALUATE for j in lab_ui.job_runner().active())
st.fragment(measuring_ui, run_every=1.0 if measuring else None)()
manage_ui(rows)
st.subheader("Download and upload")
files_ui(rows)
