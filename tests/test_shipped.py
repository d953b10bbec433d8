"""The shipped models in models/ (issue 7): one per architecture, small, described, accurate,
and reproducible with `python -m mnist_core pretrain`."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_core import checkpoints, data, inference
from mnist_core.__main__ import PRETRAIN_SEED, pretrain_one
from mnist_core.models import ARCHS, DEFAULT_ARCH
from mnist_core.training import recommended_config

SHIPPED = inference.SHIPPED_DIR
MB = 1024 * 1024


def shipped_path(arch: str):
    return SHIPPED / f"{arch}{checkpoints.SUFFIX}"


def test_every_architecture_has_a_shipped_model():
    missing = [a for a in ARCHS if not shipped_path(a).is_file()]
    assert not missing, f"no shipped checkpoint for {missing}: run python -m mnist_core pretrain"


@pytest.mark.parametrize("arch", list(ARCHS))
def test_shipped_model_is_small_and_records_how_it_was_made(arch):
    path = shipped_path(arch)
    assert path.stat().st_size < 5 * MB
    model, meta = checkpoints.load(path)
    assert meta["arch"] == arch and meta["dataset"] == "mnist"
    made = meta["extra"]
    assert made["command"] == f"python -m mnist_core pretrain --arch {arch}"
    assert made["seed"] == PRETRAIN_SEED and made["shipped"] is True
    assert {"torch", "torchvision", "python"} <= set(made["versions"])
    # Made with the architecture's fast recipe (augmented where it is meant for drawn input).
    expected = recommended_config(arch, seed=PRETRAIN_SEED, device="cpu")
    assert meta["config"]["epochs"] == expected.epochs and meta["config"]["augment"] == expected.augment
    assert 0.9 < meta["metrics"]["test_accuracy"] <= 1.0


def test_shipped_models_are_listed_by_architecture_and_load_without_a_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path / "nothing here"))
    monkeypatch.setenv("MNIST_RUNS_DIR", str(tmp_path / "runs"))
    assert inference.list_models() == list(ARCHS)
    assert inference.default_model_name() == DEFAULT_ARCH
    blank = inference.load_model("cnn").predict_proba(np.zeros((280, 280, 4), np.uint8))
    assert blank is None


@pytest.mark.realdata
@pytest.mark.parametrize("arch", list(ARCHS))
def test_shipped_accuracy_matches_the_stored_figure(arch, real_data_dir):
    predictor = inference.load_model(shipped_path(arch))
    test = data.load("mnist", train=False, root=real_data_dir)
    measured = inference.evaluate(predictor, test.images, test.labels)["accuracy"]
    assert measured == pytest.approx(predictor.test_accuracy, abs=0.001)
    if arch == DEFAULT_ARCH:
        assert measured >= 0.993


@pytest.mark.realdata
def test_pretrain_reproduces_a_shipped_model(real_data_dir, tmp_path):
    """Rebuilding the cheapest architecture from scratch gives the shipped accuracy within 0.2 points."""
    _, result, path = pretrain_one("softmax", real_data_dir, tmp_path)
    assert path is not None and result.status == "finished"
    shipped = inference.load_model(shipped_path("softmax")).test_accuracy
    assert result.test_accuracy == pytest.approx(shipped, abs=0.002)
