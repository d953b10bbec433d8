"""mnist_core.detection: the Compare page's "real digits kept", "non-digits refused" and calibration figures,
and why a cell is empty."""

from __future__ import annotations

import numpy as np
import pytest
from test_reading import Fixed

from mnist_core import compare, detection, inference, negatives, pen


def predictor(logits, threshold=0.5):
    meta = {"arch": "softmax", "extra": {"reading": {"threshold": threshold}}}
    return inference.Predictor(Fixed(logits), meta, "fixed", tta=False)


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path / "cache"))
    drawn = detection.held_out_inputs  # (a test may replace it)
    drawn.cache_clear()
    yield
    drawn.cache_clear()


def test_held_out_non_digits_are_the_held_out_kinds_drawn_once_and_cached(tmp_path, monkeypatch):
    made = []
    real = negatives.make
    monkeypatch.setattr(detection, "HELD_OUT_N", 3)
    monkeypatch.setattr(negatives, "make", lambda kind, n, seed, **k: made.append(kind) or real(kind, n, seed, **k))
    x = detection.held_out_inputs()
    assert made == list(negatives.HELD_OUT_KINDS) and x.shape[1:] == (28, 28) and 0 < len(x) <= 18
    detection.held_out_inputs.cache_clear()
    np.testing.assert_array_equal(detection.held_out_inputs(), x)  # from the disk cache: nothing drawn again
    assert made == list(negatives.HELD_OUT_KINDS)


def test_refused_counts_what_the_eleventh_output_turns_away(monkeypatch):
    monkeypatch.setattr(detection, "held_out_inputs", lambda: np.ones((7, 28, 28), np.float32))
    assert detection.refused(predictor([0.0] * 10 + [9.0])) == 1.0
    assert detection.refused(predictor([9.0] + [0.0] * 9 + [-9.0])) == 0.0
    assert detection.refused(predictor([0.0] * 10)) is None  # no detector: nothing to refuse with


def test_on_benchmark_writers_reads_the_digits_once(real_data_dir):
    if not pen.is_available(real_data_dir):
        pytest.skip("UNIPEN not available")
    sure_three = detection.on_benchmark_writers(predictor([0.0] * 3 + [20.0] + [0.0] * 6 + [-9.0]), real_data_dir)
    labels = pen.benchmark_inputs(real_data_dir)["labels"]
    assert sure_three["digits_kept"] == 1.0
    assert sure_three["accuracy"] == pytest.approx(np.mean(labels == 3), abs=0.01)
    # always 100% sure, right only for the threes: the calibration error is how often it is wrong
    assert sure_three["ece"] == pytest.approx(1 - sure_three["accuracy"], abs=0.01)
    (top,) = sure_three["reliability"]
    assert top["confidence"] == pytest.approx(1.0) and top["count"] > 3000


def test_missing_cells_say_why():
    rows = [
        {"name": "old", "detector": False, "ece": 0.02, "digits_kept": None, "refused": None},
        {"name": "new", "detector": True, "ece": None, "digits_kept": None, "refused": 0.9, "detection_note": "no UN"},
    ]
    notes = compare.missing_notes(rows, {"digits_kept": "Kept", "refused": "Refused", "ece": "ECE"})
    assert 'Kept — old: no "not a digit" output: it gives every drawing a digit' in notes
    assert 'Refused — old: no "not a digit" output: it gives every drawing a digit' in notes
    assert "Kept — new: no UN" in notes and "ECE — new: no UN" in notes
