"""The Compare page's views: the table (its columns, their widths and help), the training curves, the
confusion matrices, per-class accuracy and the gallery of mistakes. The measuring is mnist_core.compare's."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from lab_ui.text import name_md, plain, problem
from mnist_core import checkpoints, compare, data, detection, evaluation, inference, measure

N, T = st.column_config.NumberColumn, st.column_config.TextColumn
# Accuracies are shown by the table's Styler with two decimals each (a column's "percent" format drops
# trailing zeros: "99.3%" beside "92.11%"); their columns have no format of their own, which would win.
PERCENT = "{:.2%}"
ACCURACIES = ("test_accuracy", "drawings_accuracy", "drawn_accuracy", "redrawn_accuracy")  # measured here
VERDICTS = ("digits_kept", "refused", "ece")  # percentages too, never highlighted as accuracies
DASH = "—: see the notes under the table for why a cell is empty."
COLUMNS = {  # row key -> (table header, column config); widths keep each view within a 1400 px window
    "name": (
        "Model",
        T(
            width=150,
            pinned=True,
            help="Shipped models by architecture, your runs by name. "
            "Double-click a cell to read a long name or setting whole.",
        ),
    ),
    "test_accuracy": (
        "Test accuracy",
        N(
            width=100,
            help="On the full test set, measured here or at the "
            "end of training: the network's own reading of each image. The Draw page "
            "reads a drawing in four views and averages them for the models made for "
            f"drawn input (as the next two columns do). {DASH}",
        ),
    ),
    "drawings_accuracy": ("Your drawings", N(width=100)),  # its help names the collection
    "drawn_accuracy": (
        "Real handwriting",
        N(
            width=115,
            help="UNIPEN's benchmark writers (3,469 "
            "pen-drawn digits by 44 writers from Spain, Germany, the UK, Belgium and Canada, never trained on), their "
            f"strokes drawn on the canvas and read as the Draw page reads them (bench/real_handwriting.py). {DASH}",
        ),
    ),
    "redrawn_accuracy": (
        "MNIST re-drawn",
        N(
            width=110,
            help=f"{measure.DRAWN_N} MNIST test digits "
            f"re-rendered as canvas drawings (seed 0): MNIST's own writers, so it cannot see other hands. {DASH}",
        ),
    ),
    "digits_kept": (
        "Real digits kept",
        N(
            width=115,
            help="Of the same benchmark writers' digits, how many the model reads as digits (a model with a "
            '"not a digit" output may turn a real digit away; one without never does, and never says '
            f'"none of these" either). {DASH}',
        ),
    ),
    "refused": (
        "Non-digits refused",
        N(
            width=125,
            help=f"Of {6 * detection.HELD_OUT_N} drawings that are not digits (letters of unseen fonts, other "
            "scripts, signs, doodles, strokes off the edge: kinds no model was trained on), how many the model "
            f"says are not digits (bench/not_a_digit.py measures more, kind by kind). {DASH}",
        ),
    ),
    "ece": (
        "Calibration error",
        N(
            width=120,
            help="How far the confidence the app shows is from how often it is right, on the benchmark writers "
            "(expected calibration error: 0 is perfect). See the reliability diagrams below the table.",
        ),
    ),
    "claimed_accuracy": (
        "Claimed, not measured",
        N(
            width=125,
            help="What an uploaded file says of "
            "itself, until it is measured on the test set here (never taken as its accuracy, never highlighted)",
        ),
    ),
    "params": ("Parameters", N(format="localized", width=90)),
    "latency_ms": (
        "Latency (ms)",
        N(
            format="%.3f",
            width=90,
            help="Milliseconds per image, one image at a time on this machine's CPU, measured here",
        ),
    ),
    "settings": (
        "Settings",
        T(
            width=250,
            help="How it was trained: architecture, optimizer and learning rate, "
            "schedule, batch size, epochs (or steps), augmentation, pen data, and what it was fine-tuned from and on",
        ),
    ),
    "epochs": ("Epochs", N(format="%.2g", width=65)),
    "train_seconds": (
        "Training time (s)",
        N(
            format="%.1f",
            width=115,
            help="Wall-clock seconds of the run on the machine that trained it, with its own recipe (see "
            "Settings); shown only for runs timed on idle cores (see Timed on), as a busy machine takes many "
            "times longer. Compare times only between runs of the same machine.",
        ),
    ),
    "timed_on": (
        "Timed on",
        T(
            width=180,
            help="The CPU cores and the highest 1-minute load average seen through the run (at each epoch's "
            "end). The run itself loads about one per core; 'busy' means other work competed with it, so its time "
            "says more about the machine than the model. Checkpoints made before this was recorded say 'load not "
            "recorded'.",
        ),
    ),
    "tutorial_mnist": (
        "Tutorial (MNIST)",
        N(
            width=115,
            help="The architecture's tutorial's own MNIST "
            "test accuracy, only where it reported one. —: it reported another dataset or measure, or nothing "
            "(see Tutorial reported)",
        ),
    ),
    "tutorial_said": (
        "Tutorial reported",
        T(width=330, help="What the architecture's tutorial reported: dataset, metric and epochs"),
    ),
}
VIEWS = {
    "Accuracy": [
        "name",
        "test_accuracy",
        "drawings_accuracy",
        "drawn_accuracy",
        "redrawn_accuracy",
        "claimed_accuracy",
        "params",
        "latency_ms",
    ],
    "Training": ["name", "settings", "epochs", "train_seconds", "timed_on", "test_accuracy"],
    "Not a digit": ["name", "drawn_accuracy", "digits_kept", "refused", "ece"],
    "Tutorials": ["name", "test_accuracy", "tutorial_mnist", "tutorial_said"],
}


def drawings_ui(rows: list[dict]) -> tuple[dict | None, dict, str]:
    """The collection picked above the table: (name -> accuracy, or None without collections), notes, help."""
    found, why = measure.drawing_collections()
    if why:
        st.caption(f"Your drawings are not shown: {plain(why)}")
    if not found:
        return None, {}, ""
    name = st.selectbox(
        "Accuracy on your drawings: collection",
        list(found),
        key="cmp_collection",
        format_func=lambda n: f"{n} ({found[n]} drawings)",
    )
    got = measure.collection_accuracies(rows, name)
    sample = (
        f"the newest {got.measured:,} of its {got.held_out:,} held-out drawings"
        if got.measured < got.held_out
        else f"its {got.held_out:,} held-out drawings"
    )
    return (
        got.scores,
        got.notes,
        (
            f"{name_md(name)}: {sample} (every fifth of each digit, which fine-tuning never trains on), read by "
            f"each model. {DASH}"
        ),
    )


def table_ui(rows: list[dict]) -> None:
    scores, notes, drawings_help = drawings_ui(rows)
    caveat = compare.timing_caveat(rows)  # (of the recorded times: the table's rows show only the idle ones)
    rows = compare.table_rows(rows, scores)
    keys = [k for k in COLUMNS if k != "drawings_accuracy" or scores is not None]
    if not any(r.get("claimed_accuracy") is not None for r in rows):
        keys.remove("claimed_accuracy")
    head = {k: COLUMNS[k][0] for k in keys}
    df = pd.DataFrame([{head[k]: r.get(k) for k in keys} for r in rows])
    top = compare.best(rows)
    bold = "font-weight: bold"  # no colour of its own: readable in both themes
    # A translucent green over the theme's own background, under the theme's own text colour: a light tint
    # under dark text in the light theme, a dark one under light text in the dark theme (not a pale band)
    best_row = "background-color: rgba(34, 197, 94, 0.25)"
    measured = [head[k] for k in ACCURACIES if k in head]
    percents = [*measured, *(head[k] for k in ("claimed_accuracy", "tutorial_mnist", *VERDICTS) if k in head)]
    styler = df.style.format(na_rep="—").format(PERCENT, subset=percents, na_rep="—")
    if top:  # the best model's accuracies, not its other cells (its latency may well be the slowest)
        styler = styler.map(lambda _: best_row, subset=pd.IndexSlice[df.index[df["Model"] == top["name"]], measured])
    best_of = [head[k] for k in ("test_accuracy", "drawings_accuracy", "drawn_accuracy") if k in head]
    styler = styler.highlight_max(subset=best_of, props=bold).highlight_min(subset=["Latency (ms)"], props=bold)
    # (never the training time: recipes differ)
    config = {h: COLUMNS[k][1] for k, h in head.items()}
    if "drawings_accuracy" in head:
        config[head["drawings_accuracy"]] = N(width=100, help=drawings_help)
    view = st.radio(
        "Columns",
        list(VIEWS),
        horizontal=True,
        key="cmp_view",
        label_visibility="collapsed",
        help="Which columns the table shows (so that it fits the page); Model stays on the left",
    )
    st.dataframe(
        styler,
        hide_index=True,
        column_config=config,
        placeholder="—",
        column_order=[head[k] for k in VIEWS[view] if k in head],
    )
    if top:
        st.caption(
            f"Best test accuracy: {name_md(top['name'])} ({100 * top['test_accuracy']:.2f}%), highlighted; "
            "bold marks the best of each accuracy and the lowest latency. Click a header to sort."
        )
    for note in compare.missing_notes(rows, {k: head[k] for k in VIEWS[view] if k in head}, notes):
        st.caption(note)
    if view == "Training" and caveat:
        st.caption(f"⚠️ {caveat}")


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


def reliability_ui(picked: list[dict], colors: dict) -> None:
    """Each picked model's reliability diagram on the benchmark writers, with a sentence saying how to read it."""
    points = [
        {"model": r["name"], "confidence": b["confidence"], "accuracy": b["accuracy"], "drawings": b["count"]}
        for r in picked
        for b in r.get("reliability") or []
    ]
    if not points:
        st.info("No reliability diagram: it is measured on UNIPEN's benchmark writers, which are not available.")
        return
    fig = px.line(
        pd.DataFrame(points),
        x="confidence",
        y="accuracy",
        color="model",
        markers=True,
        hover_data=["drawings"],
        color_discrete_map=colors,
    )
    fig.add_shape(type="line", x0=0, y0=0, x1=1, y1=1, line={"dash": "dot", "color": "grey"})
    fig.update_layout(height=360, legend_title_text="", xaxis_range=[0, 1.02], yaxis_range=[0, 1.02])
    st.plotly_chart(fig.update_xaxes(tickformat=".0%").update_yaxes(tickformat=".0%"), width="stretch")
    st.caption(
        "A confidence means what it says when, of all the drawings a model reads with 80% confidence, 80% are "
        "right: its points then sit on the dotted diagonal. Under it, the model is surer than it is right. "
        "Measured on UNIPEN's benchmark writers, grouped by the confidence shown (the Calibration error column "
        "is the gap, averaged over the drawings)."
    )


def evaluations_ui(picked: list[dict]) -> dict:
    """Evaluations of the picked models (cached per checkpoint); messages where impossible (one for
    all the models that lack the same data, not one box each saying the same)."""
    evs, unavailable = {}, {}
    with st.spinner("Evaluating on the test set (once per checkpoint)..."):
        for r in picked:
            try:
                entry = inference.ModelEntry(r["name"], Path(r["path"]), r["source"])
                evs[r["name"]] = evaluation.on_test_set(entry, r.get("dataset") or "mnist")
            except data.DataUnavailable as exc:
                unavailable.setdefault(exc.public, []).append(name_md(r["name"]))
            except (checkpoints.CheckpointError, OSError) as exc:
                st.warning(f"{name_md(r['name'])}: could not be evaluated: {problem(exc)}")
    for why, names in unavailable.items():
        st.info(
            f"{', '.join(names)}: no confusion matrix or mistakes: {plain(why)}. The table still shows what "
            f"{'its checkpoint records' if len(names) == 1 else 'their checkpoints record'}."
        )
    return evs


def confusion_ui(evs: dict) -> None:
    for col, (name, ev) in zip(st.columns(min(len(evs), 3)) * len(evs), evs.items(), strict=False):
        fig = px.imshow(
            ev.confusion,
            text_auto=True,
            color_continuous_scale="Blues",
            labels={"x": "predicted", "y": "true", "color": "count"},
            x=list(range(10)),
            y=list(range(10)),
        )
        fig.update_layout(title=f"{name}: {100 * ev.accuracy:.2f}% of {ev.n:,}", height=420, coloraxis_showscale=False)
        col.plotly_chart(fig.update_xaxes(dtick=1).update_yaxes(dtick=1), width="stretch")


def per_class_ui(evs: dict, colors: dict) -> None:
    df = pd.DataFrame(
        [
            {"model": n, "digit": str(d), "accuracy": float(a)}
            for n, ev in evs.items()
            for d, a in enumerate(ev.per_class)
        ]
    )
    fig = px.bar(df, x="digit", y="accuracy", color="model", barmode="group", color_discrete_map=colors)
    low = max(0.0, float(df["accuracy"].min()) - 0.05)
    st.plotly_chart(fig.update_layout(height=360, legend_title_text="").update_yaxes(range=[low, 1]), width="stretch")


def gallery_ui(evs: dict) -> None:
    name = st.selectbox("Mistakes of", list(evs), key="cmp_gallery_model")
    ev = evs[name]
    if not ev.mistakes:
        st.success(f"{name_md(name)} gets every test digit right.")
        return
    shown = evaluation.gallery(ev, k=24)
    st.caption(f"The {len(shown)} most confident of {ev.mistakes:,} mistakes (confidence of the wrong answer).")
    st.image([img for img, _ in shown], caption=[c for _, c in shown], output_format="PNG")


def colours(names: list[str]) -> dict[str, str]:
    """One colour per model, the same in every chart."""
    palette = px.colors.qualitative.Plotly + px.colors.qualitative.D3
    return {n: palette[i % len(palette)] for i, n in enumerate(names)}


def first_picks(rows: list[dict]) -> list[str]:
    """The models picked on a first visit: the three most accurate."""
    return [r["name"] for r in sorted(rows, key=lambda r: -(r.get("test_accuracy") or 0))[:3]]


def picked_ui(picked: list[dict], colors: dict) -> None:
    """Everything below the table for the picked models: curves, then what measuring them on the test set shows."""
    st.subheader("Training curves")
    curves_ui(picked, colors)
    st.subheader("Does its confidence mean what it says?")
    reliability_ui(picked, colors)
    evs = evaluations_ui(picked)
    if evs:
        st.subheader("Confusion matrices")
        confusion_ui(evs)
        st.subheader("Per-class accuracy")
        per_class_ui(evs, colors)
        st.subheader("Misclassified test digits")
        gallery_ui(evs)
