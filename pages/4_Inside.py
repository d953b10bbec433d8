"""Inside: what each layer of a model makes of your drawing, what the model learned, and why it reads
the digit it reads.

The input is this session's last drawing on the Draw page (it leaves its 28 x 28 input in
st.session_state["inside_drawing"]), else an MNIST test digit, at random or of a chosen class. Each
section is computed only when it is opened, and once per input and checkpoint (st.cache_data).
mnist_core.inside does the work on a private copy of the shared model.
"""

import hashlib

import numpy as np
import pandas as pd
import streamlit as st

import lab_ui
from mnist_core import data, images, inference, inside
from mnist_core.models import ARCHS

st.set_page_config(page_title="Inside · MNIST Lab", page_icon="🔬", layout="wide")
lab_ui.sidebar_nav()
st.title("Inside the network")
st.caption("Draw once on the Draw page, then explore here: the layers, what each makes of your digit, what the "
           "model learned, and which pixels made it decide.")
entries = lab_ui.model_choices()
if not entries:
    st.info("No models yet: train one on the Train page, or put the shipped checkpoints in `models/`.")
    st.stop()
names = [e.name for e in entries]
drawing = st.session_state.get("inside_drawing")  # {"x28", "model"}, left by the Draw page
if st.session_state.get("inside_model") not in names:
    first = (drawing or {}).get("model")
    st.session_state["inside_model"] = first if first in names else inference.default_model_name() or names[0]


@st.cache_data(max_entries=64, show_spinner="Working it out...")
def view(kind: str, name: str, path: str, mtime: float, xkey: str, _x28, target=None):
    """One view of one model (checkpoint path and mtime) for one input (xkey: a hash of it)."""
    model = lab_ui.predictor(name).model
    if kind == "activations":
        return inside.activations(model, _x28)
    if kind == "weights":
        return inside.learned_weights(model)
    return inside.attribution(model, _x28, kind, target)


def test_digits() -> tuple[np.ndarray, np.ndarray] | None:
    """MNIST's test images and labels (loaded once per process by data.load; no copy), or None."""
    try:
        split = data.load("mnist", train=False, download=False)
    except data.DataUnavailable:
        return None
    return split.images.numpy(), split.labels.numpy()


def input_ui():
    """(x28 or None, a sentence saying what it is)."""
    sources = (["Your drawing"] if drawing else []) + ["An MNIST test digit"]
    source = st.radio("Input", sources, horizontal=True, key="inside_source")
    if source == "Your drawing":
        return drawing["x28"], "your last drawing on the Draw page"
    digits = test_digits()
    if digits is None:
        st.info("Draw a digit on the Draw page first: its input shows here. (No MNIST test set on this machine "
                f"either: looked in `{data.raw_dir('mnist').resolve()}`.)")
        lab_ui.page_link("pages/2_Draw.py", label="Draw a digit", icon="✍️")
        return None, ""
    x, y = digits
    c1, c2 = st.columns(2)
    cls = c1.selectbox("Digit", ["any", *range(10)], key="inside_class")
    pool = np.flatnonzero(y == cls) if cls != "any" else np.arange(len(y))
    if c2.button("Another one", width="stretch") or st.session_state.get("inside_index") not in set(pool):
        st.session_state["inside_index"] = int(np.random.default_rng().choice(pool))
    i = st.session_state["inside_index"]
    return x[i].astype(np.float32) / 255.0, f"MNIST test digit #{i}, labelled {y[i]}"


def section(title: str, key: str, body, *args) -> None:
    """An expander whose body(*args) runs only while it is open (opening or closing it reruns the page)."""
    box = st.expander(title, key=f"inside_open_{key}", on_change="rerun")
    if box.open:
        with box:
            body(*args)


NO_INPUT = "No input yet: draw a digit on the Draw page, or pick an MNIST test digit."


def structure_ui(arch: str) -> None:
    if arch not in ARCHS:
        st.info(f"No layer table for an unknown architecture ({arch}).")
        return
    st.dataframe(pd.DataFrame(inside.structure_rows(arch)), hide_index=True)
    st.caption(f"**{inside.structure(arch)['total']:,} parameters** in all. One 28 x 28 image in (a batch of 1): "
               "each row is a layer and the shape of what comes out of it, channels x height x width for conv "
               "layers; the parameters are its weights and biases, learned in training.")


def activations_ui() -> None:
    stages = view("activations", name, path, mtime, xkey, x28)
    if stages is None:
        st.info(NO_INPUT)
        return
    for s in stages[1:]:
        st.markdown(f"**{s['name']}** · output {' x '.join(map(str, s['shape']))}")
        if s["kind"] == "probs":
            st.plotly_chart(lab_ui.proba_figure(s["values"], height=220), key="inside_probs")
            st.caption(s["caption"])
            continue
        if s["kind"] == "maps":  # a grid about 300-450 pixels wide, whatever the number and size of the maps
            cols = int(np.ceil(np.sqrt(s["shape"][0])))
            picture = inside.grid(s["values"], cols=cols, cell=min(112, max(24, 420 // cols)))
        elif s["kind"] == "units":
            picture = inside.strip(s["values"])
        else:  # the LSTM: one line per image row read, one column per hidden unit
            picture = inside.heat(s["values"], cell=5)
        st.image(picture, width=min(picture.shape[1], 720), caption=s["caption"])

col_input, col_views = st.columns([1, 3], gap="large")
with col_input:
    name = st.selectbox("Model", names, key="inside_model")
    x28, what = input_ui()
    predictor = lab_ui.predictor(name)
    path, mtime = str(predictor.path), predictor.path.stat().st_mtime
    xkey = hashlib.blake2b(np.ascontiguousarray(x28, np.float32).tobytes(), digest_size=16).hexdigest() if (
        x28 is not None) else ""
    top = None
    if x28 is not None:
        probs = predictor.proba_batch(x28[None])[0]
        top = int(probs.argmax())
        st.image(images.enlarge(x28, 168), width=168, caption=f"The input: {what}")
        st.metric(f"{name} reads", str(top), delta=f"{probs[top]:.1%} probability", delta_color="off",
                  delta_arrow="off")
        if predictor.tta:
            st.caption(f"As the Draw page reads it: the average of {len(inference.TTA_VIEWS)} views of the input "
                       "(as drawn, tilted 10° each way, 10% smaller). The layers show the network on the input "
                       "as drawn.")

def weights_ui() -> None:
    learned = view("weights", name, path, mtime, "", None)
    if learned is None:
        st.info(f"{name} reads the image row by row (an LSTM): its first weights are not an image.")
        return
    shown = learned["images"][:64]
    note = f" The first 64 of {len(learned['images'])} are shown." if len(learned["images"]) > 64 else ""
    st.image(inside.grid(shown, cols=min(len(shown), 10 if len(shown) <= 10 else 8), cell=84, signed=True),
             caption=learned["caption"] + note)


WHY = {
    "saliency": "Saliency: how much a small change of each pixel moves the score. It can be bright off the stroke, "
    "where adding ink would change the reading.",
    "integrated_gradients": "Integrated Gradients: each pixel's share of the score, from a blank image to this one. "
    "Red pixels of ink speak for the digit, blue against it; only ink counts.",
    "grad_cam": "Grad-CAM: where, coarsely, the last conv layer found the evidence (its maps weighted by their "
    "gradients). Only conv nets have one.",
}


def why_ui() -> None:
    if top is None:
        st.info(NO_INPUT)
        return
    target = st.selectbox("Explain the score of", range(10), index=top, key="inside_target",
                          help="the predicted digit by default; pick another to see what speaks against it")
    for col, method in zip(st.columns(3), inside.METHODS, strict=True):
        a = view(method, name, path, mtime, xkey, x28, int(target))
        if a is None:
            col.info(f"{inside.METHODS[method]}: {name} has no conv layer.")
            continue
        picture = images.heat_overlay(x28, a, 224) if method != "integrated_gradients" else (
            inside.grid(a[None], cell=224, signed=True, pad=0))
        col.image(picture, width=224, caption=WHY[method])


with col_views:
    section("Structure: the layers, their output shapes and parameters", "structure", structure_ui, predictor.arch)
    section("Activations: what each layer makes of this digit", "activations", activations_ui)
    section("What the model learned: its first layer's weights as images", "weights", weights_ui)
    section("Why this digit: which pixels counted (Saliency, Integrated Gradients, Grad-CAM)", "why", why_ui)
