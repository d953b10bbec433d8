"""The shipped models in models/ (issue 7): one per architecture, small, described, accurate,
and reproducible with `python -m mnist_core pretrain`."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_core import checkpoints, data, evaluation, fit_reading, inference, pen, recipes
from mnist_core.models import ARCHS, DEFAULT_ARCH
from mnist_core.shipping import pretrain_one

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
    assert made["seed"] == recipes.PRETRAIN_SEED and made["shipped"] is True
    assert {"torch", "torchvision", "python"} <= set(made["versions"])
    # Made with the architecture's fast recipe (augmented where it is meant for drawn input, which
    # also learns from UNIPEN's training writers and the world's writing styles).
    expected = recipes.pretrain(arch)
    for key in ("epochs", "augment", "pen_data", "styles"):
        assert meta["config"].get(key, False) == getattr(expected, key), key  # pen_data, styles: since issue 20
    seen = made.get("data_seen") or {}  # recorded since issue 20 (the models retrained then)
    if expected.pen_data:
        held = seen.get("unipen_held_out_to_fit_the_reading", {}).get("digits", 0)  # with the non-digits
        flat = seen.get("unipen_flat_lines_left_out", 0)  # a flat line is taught as not a digit
        assert seen["mnist"] == 60000 and seen["unipen_training_writers"] + held + flat == 12484
        assert seen["unipen_benchmark_labs_left_out"] == list(pen.BENCHMARK_LABS)
    else:
        assert "unipen_training_writers" not in seen
    if meta["config"].get("negatives"):  # the "not a digit" output, and its reading fitted on the held-out writers
        assert meta["arch_args"]["classes"] == 11 and seen["unipen_held_out_to_fit_the_reading"]["digits"] > 1000
        assert set(made["reading"]) == {"temperature", "threshold"} and made["reading_fit"]["kept"] >= fit_reading.KEEP
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
    alone = inference.load_model(shipped_path(arch), tta=False)  # the network's own reading, as training measured
    test = data.load("mnist", train=False, root=real_data_dir)
    measured = evaluation.evaluate(alone, test.images, test.labels)["accuracy"]
    assert measured == pytest.approx(alone.test_accuracy, abs=0.001)
    app = inference.load_model(shipped_path(arch))  # as the app reads: four views for the drawn-input models
    as_read = evaluation.evaluate(app, test.images, test.labels)["accuracy"]
    assert app.tta == ARCHS[arch].drawn_input
    if app.tta:  # the views were kept because they read MNIST better for every one of these models
        assert as_read >= measured
    if arch == DEFAULT_ARCH:  # 99.46% before it learned other hands; issue 20 asks >= 99.3%
        assert as_read >= 0.993


@pytest.mark.realdata
def test_the_default_reads_mnists_own_digits_re_drawn(real_data_dir):
    """bench/drawn_digits.py's 5,000 MNIST test digits re-drawn as canvas drawings, read as the app reads
    them: 99.02% for the shipped cnn. Issue 20 asks for no loss there: 98.76% before it (in one view, when
    preprocess still read 21 fat black-on-transparent drawings as blank); the cnn from before issue 20 reads
    99.26% on this bench as it is now (99.16% in one view, as the app read it then), so like for like it is
    not met. The floor guards what was reached."""
    from mnist_core.drawn import drawn_accuracy

    assert drawn_accuracy(inference.load_model(shipped_path(DEFAULT_ARCH)), 5000, 0, real_data_dir) >= 0.99


@pytest.mark.realdata
def test_pretrain_reproduces_a_shipped_model(real_data_dir, tmp_path):
    """Rebuilding the cheapest architecture from scratch gives the shipped accuracy within 0.2 points."""
    _, result, path = pretrain_one("softmax", real_data_dir, tmp_path)
    assert path is not None and result.status == "finished"
    shipped = inference.load_model(shipped_path("softmax")).test_accuracy
    assert result.test_accuracy == pytest.approx(shipped, abs=0.002)


DRAWN_INPUT = [a for a, arch in ARCHS.items() if arch.drawn_input]
# UNIPEN's benchmark writers (bench/real_handwriting.py), read as the app reads them (four views averaged);
# before issue 20: cnn 92.7%, mlp 85.8%, convnet 88.0%, lenet 84.0%, simple_convnet 85.4%
REAL_HANDWRITING_FLOOR = {"cnn": 0.985, "mlp": 0.95, "convnet": 0.95, "lenet": 0.95, "simple_convnet": 0.95}


@pytest.fixture(scope="module")
def unipen():
    if not pen.is_available():
        pytest.skip("no UNIPEN file (datasets/UNIPEN/ or UNIPEN/ in the data folder)")
    return pen.benchmark_inputs()  # rendered once (seconds), then cached on disk


@pytest.mark.parametrize("arch", DRAWN_INPUT)
def test_shipped_real_handwriting_matches_the_stored_figure_and_its_target(arch, unipen):
    """The stored real-handwriting figure (what Compare shows) is what the model reads now, and does not
    fall below what the shipped models reached: the default >= 98.5% overall, every lab at 98% or more and
    every digit at 97% or more (the shipped cnn: 98.99%, val 98.3%, the 1s 97.1%), every other drawn-input
    model >= 95%."""
    predictor = inference.load_model(shipped_path(arch))
    stored = predictor.meta["extra"]["real_handwriting"]
    measured = pen.benchmark(predictor)
    assert measured["digits"] == stored["digits"] == 3469 and measured["views"] == stored["views"] == 4
    assert measured["accuracy"] == pytest.approx(stored["accuracy"], abs=0.001)
    assert measured["accuracy"] >= REAL_HANDWRITING_FLOOR[arch]
    if arch == DEFAULT_ARCH:
        assert min(measured["per_digit"].values()) >= 0.97, measured["per_digit"]
        assert min(measured["per_lab"].values()) >= 0.98, measured["per_lab"]
