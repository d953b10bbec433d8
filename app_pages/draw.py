"""Draw: a digit on a canvas (or a photo of one) -> what the models read in it, and why.

Each image is read once: its results are kept in this session under a hash of its bytes, so a
rerun for the same drawing (a toggle, another model) only computes what it has not computed yet.
What a stroke reruns is a fragment (canvas, prediction, keep, tabs: not the title and navigation),
the prediction comes first in it, and only the open tab's view is computed and sent
(bench/draw_latency.py measures the prediction's delay against a bare canvas page).
"""

import time

import pandas as pd
import streamlit as st

import lab_ui
from lab_ui import canvas
from mnist_core import checkpoints, images, inference
from mnist_core.preprocess import SCAN_ASPECT, squash

PROMPT = "Draw a digit (0-9) in the black square: its prediction appears as soon as you lift the pen."
# What arrives together is painted together: sent with the prediction, the keep controls and the views
# (built cold on a visit's first reading: about 100 ms more than later, measured on a 2-core machine) hold
# its frame back. Sent this long after it, they no longer do (bench/draw_latency.py, 2 idle cores: Draw -
# bare +57 ms in use and +52 ms first with the pause on a visit's first reading only; +32 and +44 after
# every reading).
READING_PAUSE_S = 0.06

st.title("Draw a digit")
NO_MODELS = (
    "No models yet: train one on the Train page, or put the shipped checkpoints in `models/` "
    "(`python -m mnist_core train --arch cnn --out models/cnn.pt`)."
)
if not lab_ui.model_choices():
    st.info(NO_MODELS)
    st.stop()


def no_detector(model: str) -> str:
    return (
        f'{model} has no "not a digit" output: it gives every drawing a digit. The models trained with the '
        "lab's own letters, shapes and scribbles have one (the shipped cnn, simple_convnet and mlp)."
    )


def prediction_ui(memo: dict, model: str, x28, chart_area) -> inference.Reading:
    """The Prediction metric here (under the canvas: a phone sees both at once), the bars in chart_area;
    for a drawing the model says is not a digit, that, with what it would have guessed, greyed."""
    r = lab_ui.model_reading(memo, model, x28)
    detector = r.digit_score is not None
    if r.is_digit:
        st.metric(
            "Prediction",
            str(r.digit),
            delta=f"{r.confidence:.1%} probability",
            delta_color="off",
            delta_arrow="off",
            help=None if detector else no_detector(model),
        )
    else:
        st.metric(
            "Prediction",
            "Not a digit",
            delta=f"else a {r.digit}, {r.confidence:.0%} sure",
            delta_color="off",
            delta_arrow="off",
        )
        chart_area.markdown(
            f"**That doesn't look like a digit** to {lab_ui.name_md(model)}: its digit score is {r.digit_score:.0%} "
            f"(a digit scores {lab_ui.predictor(model).reading['threshold']:.0%} or more). Greyed, what it would "
            "have guessed if it had to:"
        )
    chart_area.html(
        lab_ui.once(
            memo,
            ("bars", model, r.probabilities.tobytes(), r.is_digit),
            lambda: lab_ui.proba_bars(r.probabilities, muted=not r.is_digit),
        )
    )
    return r


def sees_ui(memo: dict, model: str, read: dict) -> None:
    steps = read["steps"]
    cols = st.columns([1, 1, 1, 2])
    if read["scan"]:  # a stretched scan: its frame narrowed
        captions = [("crop", "a scan stretched to its box: its frame"), ("scaled", f"{SCAN_ASPECT:g} as wide as tall")]
    else:
        captions = [("crop", "cropped to its box, made square"), ("scaled", "scaled to 20 x 20")]
    for col, (step, caption) in zip(cols, [("ink", "ink found"), *captions], strict=False):
        col.image(
            lab_ui.once(memo, ("big", step), lambda s=step: images.enlarge(steps[s], 112)), caption=caption, width=112
        )
    cols[3].image(
        lab_ui.once(memo, ("big", "centred"), lambda: images.enlarge(steps["centred"], 196)),
        width=196,
        caption="the model's 28 x 28 input: centre of mass on the centre, as in MNIST",
    )
    if st.toggle("Show what the naive squash (whole image resized to 28 x 28) would give", key="draw_squash"):
        naive = lab_ui.once(memo, "squash", lambda: squash(read["pixels"]))
        left, right = st.columns([1, 2])
        left.image(images.enlarge(naive, 196), width=196, caption="the whole image squashed to 28 x 28")
        probs = lab_ui.model_probs(memo, model, naive, tag="squash")
        right.metric(
            f"{model} reads the squashed image as",
            str(int(probs.argmax())),
            delta=f"{probs.max():.1%} probability",
            delta_color="off",
            delta_arrow="off",
        )


def verdict(r: inference.Reading) -> str:
    if r.digit_score is None:
        return 'no "not a digit" output'
    return f"a digit ({r.digit_score:.0%})" if r.is_digit else f"not a digit ({r.digit_score:.0%})"


def every_model_ui(memo: dict, x28, names: list[str]) -> None:
    readings, failed = {}, []
    status = st.empty()
    for name in names:
        # one line per model still to read: each is a point where the next stroke's rerun may stop this one
        status.caption(f"Reading with {name}…")
        try:
            readings[name] = lab_ui.model_reading(memo, name, x28)
        except (checkpoints.CheckpointError, ValueError, OSError) as exc:
            failed.append(f"{name} ({lab_ui.problem(exc)})")
    status.empty()
    if failed:
        st.warning(f"Could not load: {'; '.join(failed)}")
    if readings:
        scores = {n: r.probabilities for n, r in readings.items()}
        st.plotly_chart(
            lab_ui.once(memo, ("every", tuple(scores)), lambda: lab_ui.models_figure(scores)),
            key="draw_every",
            config={"displayModeBar": False},
        )
        st.dataframe(
            pd.DataFrame(
                [
                    {"Model": n, "Prediction": r.digit, "Confidence": r.confidence, "Is it a digit?": verdict(r)}
                    for n, r in readings.items()
                ]
            ),
            hide_index=True,
            column_config={"Confidence": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1)},
        )
        st.caption(
            "Confidence: how sure a model is of its digit. Is it a digit: how much the drawing looks like a digit "
            'to the models that can say "none of these" (a softmax alone always picks one of the ten).'
        )


def saliency_ui(memo: dict, model: str, x28, top: int) -> None:
    heat = lab_ui.once(memo, ("saliency", model), lambda: lab_ui.predictor(model).saliency(x28, top))
    left, right = st.columns([1, 2])
    left.image(lab_ui.once(memo, ("heat", model), lambda: images.heat_overlay(x28, heat)), width=224)
    right.markdown(
        f"Which input pixels pushed **{model}** towards **{top}**: the size of the gradient of that "
        "class's score with respect to each pixel, scaled to the largest. Bright yellow: a small change "
        "there would move the score most. Grey: the digit itself. The Inside page shows every layer's "
        "view of this drawing, and asks why in more ways (Integrated Gradients, Grad-CAM)."
    )
    with right:  # (a short label: a link is one line, cut at the screen's edge)
        lab_ui.page_link("app_pages/inside.py", label="Inside: more ways to ask why", icon="🔬")


st.html(canvas.PAGE_STYLE, unsafe_allow_javascript=True)


# A fragment: a stroke (or any widget below) reruns this part only, so the page's title, navigation and
# style are neither run nor sent again, and the browser has only this part to redraw.
@st.fragment
def drawing_ui() -> None:
    names = [e.name for e in lab_ui.model_choices()]
    if not names:  # deleted since the page loaded
        st.info(NO_MODELS)
        return
    if st.session_state.get("draw_model") not in names:  # first visit, or its model was deleted
        st.session_state["draw_model"] = inference.default_model_name() or names[0]
    col_input, col_result = st.columns([5, 6], gap="large")
    with col_result:
        model = st.selectbox("Model", names, key="draw_model", help="Default: the best model available")
    with col_input:
        key, data, min_side = canvas.drawing_input_ui()
        if key is None:
            if note := st.session_state.get("draw_kept_note"):  # the drawing just kept, until the next one
                st.success(note)
            if not canvas.editing():  # (while an edit is on its way to the canvas, input_ui says so)
                st.info(
                    PROMPT if st.session_state.get("draw_source", "Draw") == "Draw" else "Upload an image of a digit."
                )
            return
        st.session_state.pop("draw_kept_note", None)
        memo = lab_ui.image_memo(key)
        read = lab_ui.read_image(memo, data, min_side)
        if "error" in read:
            st.error(read["error"])  # the app's own words: no visitor text in them
            return
        if read["steps"] is None:
            st.info(f"{read['blank']} {PROMPT if key[:7] != 'upload:' else 'Upload an image of a digit.'}")
            return
        for note in read["notes"]:
            st.caption(note)
        x28 = read["steps"]["centred"]
        reading = prediction_ui(memo, model, x28, col_result)
        top = reading.digit
        st.session_state["inside_drawing"] = {"x28": x28, "model": model}  # Inside's input
    if st.session_state.get("draw_last_read") != key:  # a new drawing (not a tab, a toggle, a model's rerun)
        st.session_state["draw_last_read"] = key
        time.sleep(READING_PAUSE_S)  # (the server sends the prediction meanwhile, and the browser paints it)
    with col_result:  # under the bars (a phone shows the canvas, the prediction and the bars first)
        drawn = not key.startswith("upload:")
        lab_ui.keep_drawing_ui(
            key,
            x28,
            data if drawn else None,
            model,
            top,
            on_kept=canvas.clear_after_keeping if drawn else None,
            is_digit=reading.is_digit,
        )
    # Only the open tab runs (and is sent): the other views cost a drawing nothing until they are opened.
    views = {
        "What the model sees": lambda: sees_ui(memo, model, read),
        "Every model": lambda: every_model_ui(memo, x28, names),
        "Saliency": lambda: saliency_ui(memo, model, x28, top),
    }
    for tab, view in zip(st.tabs(list(views), key="draw_tab", on_change="rerun"), views.values(), strict=True):
        if tab.open:
            with tab:
                view()


drawing_ui()
