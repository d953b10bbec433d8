"""The models a page offers and reads with: loaded once per process, shared by every session."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from lab_ui.memos import once
from mnist_core import checkpoints, inference


@st.cache_resource(max_entries=64, show_spinner=False)
def _predictor(path: str, mtime: float) -> inference.Predictor:
    model, meta = checkpoints.load(path)
    return inference.Predictor(model, meta, meta.get("name") or Path(path).stem, Path(path))


def predictor(name: str) -> inference.Predictor:
    """A model by list name, loaded once per process and keyed by path and mtime (a retrained
    run with the same name is reloaded). Raises CheckpointError / ValueError for a bad file."""
    path = inference.resolve(name)
    p = _predictor(str(path.resolve()), path.stat().st_mtime)
    if p.name != name:  # the list name ("run:cnn") may differ from the name stored in the file
        p = inference.Predictor(p.model, p.meta, name, p.path)
    return p


def model_choices() -> list[inference.ModelEntry]:
    """The models a page may offer: files that pass the checkpoint checks."""
    return inference.usable_entries()


def model_reading(memo: dict, name: str, x28, tag: str = "reading") -> inference.Reading:
    """What the model `name` reads in the (28, 28) input x28 (its probabilities and its verdict: a digit
    or not), computed once per image, checkpoint and `tag` (which input of this image x28 is)."""
    p = predictor(name)
    return once(memo, (tag, name, str(p.path), p.path.stat().st_mtime), lambda: p.read_batch(x28[None])[0])


def model_probs(memo: dict, name: str, x28, tag: str = "reading") -> object:
    """(10,) probabilities of the model `name` for the (28, 28) input x28 (model_reading's)."""
    return model_reading(memo, name, x28, tag).probabilities
