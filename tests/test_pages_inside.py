"""Page tests (streamlit.testing.v1.AppTest) for the Inside page and the Train page's layer table.

Untrained checkpoints made here (one of each kind of network: linear, conv, recurrent) and a small
synthetic MNIST-format test set stand in for the shipped models and the real data: the page's flow
is checked, not what the models read. Sections are opened by setting their expander's key.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from conftest import digit_image
from helpers import open_page
from streamlit.testing.v1 import AppTest

from mnist_core import checkpoints, data, inside
from mnist_core.models import build

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
SECTIONS = ("structure", "activations", "weights", "why")
ARCHS = ("softmax", "cnn", "lstm")


@pytest.fixture
def models(tmp_path, monkeypatch, runs_dir) -> Path:
    d = tmp_path / "models"
    d.mkdir()
    for arch, acc in zip(ARCHS, (0.9, 0.99, 0.95), strict=True):
        checkpoints.save(d / f"{arch}.pt", build(arch), arch, {"arch": arch}, {}, {"test_accuracy": acc})
    monkeypatch.setenv("MNIST_MODELS_DIR", str(d))
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path / "no-data"))
    st.cache_data.clear()  # the page's views are cached per process
    return d


def page(path: str = "app_pages/inside.py", open_all: bool = False) -> AppTest:
    return open_page(path, timeout=180, state={f"inside_open_{key}": True for key in SECTIONS} if open_all else None)


def texts(elements) -> str:
    return " | ".join(str(e.value) for e in elements)


def n_images(at: AppTest) -> int:
    return len(at.get("image"))


def test_no_models_says_how_to_get_one(tmp_path, monkeypatch, runs_dir):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("MNIST_MODELS_DIR", str(empty))
    at = page()
    assert "No models yet" in texts(at.info)


def test_closed_sections_compute_nothing(models, monkeypatch):
    calls = []
    for fn in ("activations", "learned_weights", "attribution", "structure_rows"):
        monkeypatch.setattr(inside, fn, lambda *a, fn=fn, **k: calls.append(fn))
    at = page()
    assert [e.label.split(":")[0] for e in at.expander] == [
        "Structure",
        "Activations",
        "What the model learned",
        "Why this digit",
    ]
    assert calls == []


def test_without_a_drawing_or_data_the_page_prompts_and_still_shows_the_model(models):
    at = page(open_all=True)
    assert "Draw a digit on the Draw page first" in texts(at.info)
    assert "No MNIST test set" in texts(at.info)
    assert texts(at.info).count("No input yet") == 2  # activations and attributions wait for an input
    assert len(at.dataframe) == 1  # the layer table needs no input
    assert "parameters** in all" in texts(at.caption)
    assert n_images(at) == 1  # the learned filters


def test_the_structure_is_the_loaded_models_own_not_the_architectures_default(models):
    """A cnn saved at width 24 (as the shipped one is): its table and count are the width-24 network's."""
    wide = build("cnn", {"width": 24})
    checkpoints.save(models / "cnn.pt", wide, "cnn", {"arch": "cnn", "width": 24}, {}, {"test_accuracy": 0.99})
    at = page(open_all=True)
    at.selectbox(key="inside_model").set_value("cnn").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["Output shape"])[0] == "1 x 24 x 14 x 14" and sum(table["Parameters"]) == 61_042
    assert "**61,042 parameters** in all" in texts(at.caption)


def test_an_mnist_test_digit_by_class_through_every_view_of_every_model(models, monkeypatch, small_data_dir):
    monkeypatch.setenv("MNIST_DATA_DIR", str(small_data_dir))
    at = page(open_all=True)
    at.selectbox(key="inside_class").set_value(7).run()
    assert not at.exception, at.exception
    for arch in ARCHS:
        at.selectbox(key="inside_model").set_value(arch).run()
        assert not at.exception, at.exception
        assert f"{arch} reads" in [m.label for m in at.metric]
        table = at.dataframe[0].value
        assert list(table["Output shape"])[-1] == "1 x 10"
        stages = texts(at.markdown)
        assert "probabilities" in stages
        assert ("Conv2d → ReLU" in stages) == (arch == "cnn") and ("LSTM" in stages) == (arch == "lstm")
        grad_cam_missing = "has no conv layer" in texts(at.info)
        assert grad_cam_missing == (arch != "cnn")
        weights_missing = "reads the image row by row" in texts(at.info)
        assert weights_missing == (arch == "lstm")
    y = data.load("mnist", train=False, download=False).labels
    for _ in range(2):
        assert y[at.session_state["inside_index"]] == 7
        at.button[0].click().run()  # "Another digit": still a 7
        assert not at.exception, at.exception


def test_the_draw_pages_drawing_is_the_input_and_each_view_is_computed_once(models, monkeypatch):
    at = open_page("app_pages/draw.py", timeout=180)
    buf = io.BytesIO()
    digit_image(3).save(buf, "PNG")
    at.radio(key="draw_source").set_value("Upload a photo or scan").run()
    at.file_uploader(key="draw_upload").set_value(("three.png", buf.getvalue(), "image/png")).run()
    assert not at.exception, at.exception
    assert "inside_drawing" in at.session_state and at.session_state["inside_drawing"]["x28"].shape == (28, 28)

    counts: dict[str, int] = {}
    for fn in ("activations", "attribution"):
        real = getattr(inside, fn)
        monkeypatch.setattr(
            inside,
            fn,
            lambda *a, fn=fn, real=real, **k: (counts.__setitem__(fn, counts.get(fn, 0) + 1), real(*a, **k))[1],
        )
    at.switch_page("app_pages/inside.py")
    for key in SECTIONS:
        at.session_state[f"inside_open_{key}"] = True
    at.run()
    assert not at.exception, at.exception
    assert not at.radio  # (no MNIST test set here: the drawing is the input, with no choice to make)
    first = dict(counts)
    assert first == {"activations": 1, "attribution": 3}
    at.run()  # a rerun for the same drawing and model computes nothing again
    assert counts == first
    other = (at.selectbox(key="inside_target").value + 1) % 10  # another class to explain: attributions only
    at.selectbox(key="inside_target").set_value(other).run()
    assert counts == {"activations": 1, "attribution": 6}


def test_the_train_page_shows_the_picked_architectures_layers_when_asked(models):
    at = page("app_pages/train.py")
    assert not [d for d in at.dataframe if "Output shape" in d.value]  # closed: not built
    at.session_state["train_layers"] = True
    at.run()
    assert not at.exception, at.exception
    tables = [d.value for d in at.dataframe if "Output shape" in d.value]
    assert len(tables) == 1 and list(tables[0]["Output shape"])[-1] == "1 x 10"
    at.selectbox(key="arch").set_value("lenet").run()
    assert not at.exception, at.exception
    tables = [d.value for d in at.dataframe if "Output shape" in d.value]
    assert "1 x 16 x 4 x 4" in list(tables[0]["Output shape"])  # LeNet's conv block, as the tutorial prints it


def test_without_mnist_there_is_no_one_option_choice_of_input(models):
    at = page()
    assert not [r for r in at.radio if "An MNIST test digit" in r.options]  # nothing to choose between
    assert "No MNIST test set" in texts(at.info)
    x28 = np.asarray(digit_image(3).convert("L").resize((28, 28)), np.float32) / 255
    at.session_state["inside_drawing"] = {"x28": x28, "model": "cnn"}  # as the Draw page leaves it
    at.run()
    assert not at.exception, at.exception
    assert not [r for r in at.radio if "An MNIST test digit" in r.options]
    assert "cnn reads" in [m.label for m in at.metric]  # the drawing is the input, without a choice to make


def test_another_digit_has_the_input_columns_width_for_its_label(models, monkeypatch, small_data_dir):
    monkeypatch.setenv("MNIST_DATA_DIR", str(small_data_dir))
    at = page()
    (button,) = [b for b in at.button if b.label.startswith("Another")]
    # in the input column (a quarter of the page) itself, not in a column within it: its label is not cut
    assert len([c for c in at.columns if any(b.label == button.label for b in c.button)]) == 1
    assert len(button.label) <= 16, button.label
    at.session_state["inside_drawing"] = {"x28": np.zeros((28, 28), np.float32), "model": "cnn"}
    at.run()  # a drawing and a test set: a choice between them, the drawing first
    assert at.radio(key="inside_source").options == ["Your drawing", "An MNIST test digit"]
    assert at.radio(key="inside_source").value == "Your drawing"
