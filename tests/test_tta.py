"""Test-time augmentation (issue 20): the models made for drawn input read each input in a few views
(inference.TTA_VIEWS) and average the probabilities; the others read it once."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mnist_core import inference
from mnist_core.models import ARCHS, build


def bar(angle_deg: float = 0.0) -> np.ndarray:
    """A 28x28 upright bar (a plain 1), optionally slanted."""
    img = np.zeros((28, 28), np.float32)
    t = np.radians(angle_deg)
    for s in np.linspace(-9, 9, 200):
        r, c = int(round(14 + s * np.cos(t))), int(round(14 + s * np.sin(t)))
        img[r, c - 1 : c + 2] = 1.0
    return img


def slant(img: np.ndarray) -> float:
    """The ink's column-on-row regression slope: 0 for upright, the sign of the lean otherwise."""
    rows, cols = np.nonzero(img > 0.3)
    return float(np.polyfit(rows - rows.mean(), cols - cols.mean(), 1)[0])


def test_the_views_are_the_input_then_tilted_both_ways_then_smaller():
    x = torch.from_numpy(bar())[None, None]
    views = inference.tta_views(x).numpy()[:, 0]
    assert views.shape == (len(inference.TTA_VIEWS), 28, 28)
    assert np.abs(views[0] - x.numpy()[0, 0]).max() < 1e-5  # the first view is the input itself
    left, right = slant(views[1]), slant(views[2])
    assert left * right < 0 and min(abs(left), abs(right)) > 0.1  # tilted one way, then the other
    assert views[3].sum() < 0.9 * views[0].sum()  # the smaller view has less ink in the frame
    for v in views[1:]:
        assert np.isfinite(v).all() and v.min() >= 0 and v.max() <= 1.0 + 1e-6


def test_views_keep_each_input_in_its_place_in_a_batch():
    x = torch.from_numpy(np.stack([bar(), np.zeros((28, 28), np.float32), bar(20)]))[:, None]
    views = inference.tta_views(x).reshape(len(inference.TTA_VIEWS), 3, 28, 28)
    assert (views[:, 1] == 0).all()  # the blank input stays blank in every view
    assert slant(views[0, 2].numpy()) > 0.2  # the third input's lean is still there


@pytest.mark.parametrize("arch", list(ARCHS))
def test_drawn_input_models_average_the_views_and_the_others_read_once(arch):
    torch.manual_seed(0)
    model = build(arch)
    app = inference.Predictor(model, {"arch": arch}, arch)
    alone = inference.Predictor(model, {"arch": arch}, arch, tta=False)
    assert app.tta == ARCHS[arch].drawn_input
    x = np.stack([bar(), bar(-15)])
    probs = app.proba_batch(x)
    assert probs.shape == (2, 10) and np.allclose(probs.sum(1), 1, atol=1e-5)
    if app.tta:  # the mean of the network's readings of each view, input by input
        views = inference.tta_views(torch.from_numpy(x)[:, None]).numpy()[:, 0]
        each = alone.proba_batch(views).reshape(len(inference.TTA_VIEWS), 2, 10)
        assert np.allclose(probs, each.mean(0), atol=1e-5)
    else:
        assert np.allclose(probs, alone.proba_batch(x), atol=1e-6)


def test_an_empty_batch_reads_as_nothing():
    p = inference.Predictor(build("cnn"), {"arch": "cnn"}, "cnn")
    assert p.proba_batch(np.zeros((0, 28, 28), np.float32)).shape == (0, 10)
