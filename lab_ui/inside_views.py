"""The Inside page's sections: the layers, the activations, the learned weights and the attributions of
one model for one input. Each is computed once per input and checkpoint (st.cache_data) by
mnist_core.inside, on a private copy of the shared model."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from lab_ui.charts import proba_figure
from lab_ui.models import predictor
from mnist_core import data, images, inside
from mnist_core.models import ARCHS

NO_INPUT = "No input yet: draw a digit on the Draw page, or pick an MNIST test digit."
WHY = {
    "saliency": "Saliency: how much a small change of each pixel moves the score. It can be bright off the stroke, "
    "where adding ink would change the reading.",
    "integrated_gradients": "Integrated Gradients: each pixel's share of the score, from a blank image to this one. "
    "Red pixels of ink speak for the digit, blue against it; only ink counts.",
    "grad_cam": "Grad-CAM: where, coarsely, the last conv layer found the evidence (its maps weighted by their "
    "gradients). Only conv nets have one.",
}


@dataclass(frozen=True)
class Looked:
    """What the sections look at: the model (its list name, checkpoint path and mtime), the (28, 28) input
    or None, a hash naming the input, and the digit the model reads in it (None without an input)."""

    name: str
    path: str
    mtime: float
    x28: np.ndarray | None
    top: int | None

    @functools.cached_property
    def xkey(self) -> str:
        if self.x28 is None:
            return ""
        return hashlib.blake2b(np.ascontiguousarray(self.x28, np.float32).tobytes(), digest_size=16).hexdigest()


@st.cache_data(max_entries=64, show_spinner="Working it out...")
def view(kind: str, name: str, path: str, mtime: float, xkey: str, _x28, target=None):
    """One view of one model (checkpoint path and mtime) for one input (xkey: a hash of it)."""
    model = predictor(name).model
    if kind == "activations":
        return inside.activations(model, _x28)
    if kind == "weights":
        return inside.learned_weights(model)
    return inside.attribution(model, _x28, kind, target)


def mnist_test_set() -> tuple[np.ndarray, np.ndarray] | None:
    """MNIST's test images and labels (loaded once per process by data.load; no copy), or None."""
    try:
        split = data.load("mnist", train=False, download=False)
    except data.DataUnavailable:
        return None
    return split.images.numpy(), split.labels.numpy()


def section(title: str, key: str, body, *args) -> None:
    """An expander whose body(*args) runs only while it is open (opening or closing it reruns the page)."""
    box = st.expander(title, key=f"inside_open_{key}", on_change="rerun")
    if box.open:
        with box:
            body(*args)


def structure_ui(arch: str, arch_args: dict | None = None) -> None:
    """The loaded model's layer table: its architecture built with the builder arguments its checkpoint
    recorded (the shipped cnn's width 24, not the architecture's default 16)."""
    if arch not in ARCHS:
        st.info(f"No layer table for an unknown architecture ({arch}).")
        return
    st.dataframe(pd.DataFrame(inside.structure_rows(arch, arch_args)), hide_index=True)
    st.caption(
        f"**{inside.structure(arch, arch_args)['total']:,} parameters** in all. One 28 x 28 image in (a batch of 1): "
        "each row is a layer and the shape of what comes out of it, channels x height x width for conv "
        "layers; the parameters are its weights and biases, learned in training."
    )


def activations_ui(at: Looked) -> None:
    stages = view("activations", at.name, at.path, at.mtime, at.xkey, at.x28)
    if stages is None:
        st.info(NO_INPUT)
        return
    for s in stages[1:]:
        st.markdown(f"**{s['name']}** · output {' x '.join(map(str, s['shape']))}")
        if s["kind"] == "probs":
            st.plotly_chart(proba_figure(s["values"], height=220), key="inside_probs")
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


def weights_ui(at: Looked) -> None:
    learned = view("weights", at.name, at.path, at.mtime, "", None)
    if learned is None:
        st.info(f"{at.name} reads the image row by row (an LSTM): its first weights are not an image.")
        return
    shown = learned["images"][:64]
    note = f" The first 64 of {len(learned['images'])} are shown." if len(learned["images"]) > 64 else ""
    st.image(
        inside.grid(shown, cols=min(len(shown), 10 if len(shown) <= 10 else 8), cell=84, signed=True),
        caption=learned["caption"] + note,
    )


def why_ui(at: Looked) -> None:
    if at.top is None:
        st.info(NO_INPUT)
        return
    target = st.selectbox(
        "Explain the score of",
        range(10),
        index=at.top,
        key="inside_target",
        help="the predicted digit by default; pick another to see what speaks against it",
    )
    for col, method in zip(st.columns(3), inside.METHODS, strict=True):
        a = view(method, at.name, at.path, at.mtime, at.xkey, at.x28, int(target))
        if a is None:
            col.info(f"{inside.METHODS[method]}: {at.name} has no conv layer.")
            continue
        picture = (
            images.heat_overlay(at.x28, a, 224)
            if method != "integrated_gradients"
            else (inside.grid(a[None], cell=224, signed=True, pad=0))
        )
        col.image(picture, width=224, caption=WHY[method])
