"""Small Streamlit helpers shared by the pages (the pages stay thin; mnist_core stays UI-free)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

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
    return inference.model_entries()
