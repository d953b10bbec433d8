"""Compare: every model side by side; curves, confusion matrices, mistakes; download and upload.

All measuring happens in mnist_core.compare, once per checkpoint, cached on disk.
"""

from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

import lab_ui
from mnist_core import checkpoints, compare, data, inference, jobs

st.set_page_config(page_title="Compare · MNIST Lab", page_icon="📊", layout="wide")
lab_ui.sidebar_nav()
st.title("Compare models")
st.caption("Which architecture is best, and why: accuracy, speed, and the digits each one gets wrong.")

COLUMNS = {  # summary key -> (table header, column config)
    "name": ("Model", st.column_config.TextColumn(help="Shipped models by architecture, your runs by name")),
    "arch": ("Architecture", None),
    "params": ("Parameters", st.column_config.NumberColumn(format="localized")),
    "epochs": ("Epochs", st.column_config.NumberColumn(format="%.2g")),
    "train_seconds": ("Training time (s)", st.column_config.NumberColumn(format="%.1f")),
    "device": ("Device", None),
    "test_accuracy": ("Test accuracy", st.column_config.NumberColumn(format="percent")),
    "claimed_accuracy": ("Claimed, not measured", st.column_config.NumberColumn(
        format="percent", help="What an uploaded file says of itself, until it is measured on the test set here "
        "(never taken as its accuracy, never highlighted)")),
    "reported_accuracy": ("Tutorial reported", st.column_config.NumberColumn(
        format="percent", help="The tutorial's own figure for this architecture (None: it reported no figure)")),
    "drawn_accuracy": ("Drawn-digit accuracy", st.column_config.NumberColumn(
        format="percent", help="Real handwriting: UNIPEN's benchmark writers (3,469 pen-drawn digits by 44 writers "
        "from Spain, Germany, the UK, Belgium and Canada, never trained on), their strokes drawn on the canvas and "
        "read as the Draw page reads them (bench/real_handwriting.py, seed 0)")),
    "redrawn_accuracy": ("MNIST re-drawn", st.column_config.NumberColumn(
        format="percent", help=f"{compare.DRAWN_N} MNIST test digits re-rendered as canvas drawings (seed 0): "
        "MNIST's own writers and styles, so it cannot see other hands")),
    "latency_ms": ("Latency (ms/image)", st.column_config.NumberColumn(format="%.3f")),
}


def table_ui(rows: list[dict]) -> None:
    df = pd.DataFrame([{h: r.get(k) for k, (h, _) in COLUMNS.items()} for r in rows])
    top = compare.best(rows)
    bold = "font-weight: bold"  # no colour of its own: readable in both themes
    best_row = "background-color: #dcfce7; color: #14532d"  # its own text colour: readable in the dark theme too
    shade = lambda row: [best_row if top and row["Model"] == top["name"] else ""] * len(row)
    styler = (df.style.apply(shade, axis=1)
              .highlight_max(subset=["Test accuracy", "Drawn-digit accuracy"], props=bold)
              .highlight_min(subset=["Latency (ms/image)", "Training time (s)"], props=bold))
    st.dataframe(styler, hide_index=True, column_config={h: c for h, c in COLUMNS.values() if c})
    if top:
        st.caption(f"Best test accuracy: **{top['name']}** ({100 * top['test_accuracy']:.2f}%), highlighted; "
                   "bold marks the best of each column. Click a header to sort.")


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
                evs[r["name"]] = compare.evaluation(entry, r.get("dataset") or "mnist")
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
    shown = compare.gallery(ev, k=24)
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
                                 help=f"Up to {jobs.UPLOAD_MAX_BYTES // 2**20} MB. Its accuracy is measured here on "
                                 "the test set, not taken from the file.")
    done = st.session_state.setdefault("cmp_uploads", {})  # file_id -> (ok, message): each file once
    if upload is not None and upload.file_id not in done:
        try:
            saved = compare.accept_upload(upload.name, upload.getvalue(), runner=lab_ui.job_runner(),
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
rows, problems = compare.summaries(entries, on_progress=lambda i, n, name: progress.progress(
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
st.subheader("Download and upload")
files_ui(rows)
