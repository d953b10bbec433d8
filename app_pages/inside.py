"""Inside: what each layer of a model makes of your drawing, what the model learned, and why it reads
the digit it reads.

The input is this session's last drawing on the Draw page (it leaves its 28 x 28 input in
st.session_state["inside_drawing"]), else an MNIST test digit, at random or of a chosen class. Each
section is computed only when it is opened, and once per input and checkpoint (lab_ui.inside_views).
"""

import numpy as np
import streamlit as st

import lab_ui
from lab_ui import inside_views
from lab_ui.inside_views import Looked, section
from mnist_core import data, images, inference

st.title("Inside the network")
st.caption(
    "Draw once on the Draw page, then explore here: the layers, what each makes of your digit, what the "
    "model learned, and which pixels made it decide."
)
entries = lab_ui.model_choices()
if not entries:
    st.info("No models yet: train one on the Train page, or put the shipped checkpoints in `models/`.")
    st.stop()
names = [e.name for e in entries]
drawing = st.session_state.get("inside_drawing")  # {"x28", "model"}, left by the Draw page
if st.session_state.get("inside_model") not in names:
    first = (drawing or {}).get("model")
    st.session_state["inside_model"] = first if first in names else inference.default_model_name() or names[0]


def input_ui(drawing: dict | None):
    """(x28 or None, a sentence saying what it is). A choice of input only where there are two."""
    digits = inside_views.mnist_test_set()
    if digits is None and drawing is None:
        st.info(
            "Draw a digit on the Draw page first: its input shows here. (No MNIST test set on this machine "
            f"either: looked in {lab_ui.shown_path(data.raw_dir('mnist'), 'the folder MNIST_DATA_DIR names')}.)"
        )
        lab_ui.page_link("app_pages/draw.py", label="Draw a digit", icon="✍️")
        return None, ""
    if digits is None or (
        drawing is not None
        and st.radio("Input", ["Your drawing", "An MNIST test digit"], horizontal=True, key="inside_source")
        == "Your drawing"
    ):
        return drawing["x28"], "your last drawing on the Draw page"
    x, y = digits
    cls = st.selectbox("Digit", ["any", *range(10)], key="inside_class")
    pool = np.flatnonzero(y == cls) if cls != "any" else np.arange(len(y))
    # the input column's own width (a column within it would cut the label short)
    if st.button("Another digit", width="stretch") or st.session_state.get("inside_index") not in set(pool):
        st.session_state["inside_index"] = int(np.random.default_rng().choice(pool))
    i = st.session_state["inside_index"]
    return x[i].astype(np.float32) / 255.0, f"MNIST test digit #{i}, labelled {y[i]}"


def reading_ui(predictor: inference.Predictor, x28, what: str) -> int | None:
    """The input and the digit the model reads in it (None without an input)."""
    if x28 is None:
        return None
    probs = predictor.proba_batch(x28[None])[0]
    top = int(probs.argmax())
    st.image(images.enlarge(x28, 168), width=168, caption=f"The input: {what}")
    st.metric(
        f"{predictor.name} reads", str(top), delta=f"{probs[top]:.1%} probability", delta_color="off", delta_arrow="off"
    )
    if predictor.tta:
        st.caption(
            f"As the Draw page reads it: the average of {len(inference.TTA_VIEWS)} views of the input "
            "(as drawn, tilted 10° each way, 10% smaller). The layers show the network on the input "
            "as drawn."
        )
    return top


col_input, col_views = st.columns([1, 3], gap="large")
with col_input:
    name = st.selectbox("Model", names, key="inside_model")
    x28, what = input_ui(drawing)
    predictor = lab_ui.predictor(name)
    top = reading_ui(predictor, x28, what)
looked = Looked(name, str(predictor.path), predictor.path.stat().st_mtime, x28, top)

with col_views:
    section(
        "Structure: the layers, their output shapes and parameters",
        "structure",
        inside_views.structure_ui,
        predictor.arch,
        predictor.meta.get("arch_args") or {},
    )
    section("Activations: what each layer makes of this digit", "activations", inside_views.activations_ui, looked)
    section("What the model learned: its first layer's weights as images", "weights", inside_views.weights_ui, looked)
    section(
        "Why this digit: which pixels counted (Saliency, Integrated Gradients, Grad-CAM)",
        "why",
        inside_views.why_ui,
        looked,
    )
