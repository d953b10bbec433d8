"""Predictor.read: the contract (probabilities, digit, is_digit, digit_score) for a model with and without
the "not a digit" output, its fitted temperature and threshold, and blank input."""

import numpy as np
import pytest
import torch

import mnist_core
from mnist_core import inference, negatives, pen


class Fixed(torch.nn.Module):
    """A network whose outputs are fixed logits, whatever the input."""

    def __init__(self, logits):
        super().__init__()
        self.logits = torch.tensor(logits, dtype=torch.float32)

    def forward(self, x):
        return self.logits.expand(len(x), -1)


def ink():
    img = np.zeros((280, 280), np.uint8)
    img[60:220, 130:150] = 255
    return img


def predictor(logits, reading=None):
    meta = {"arch": "softmax", "extra": {"reading": reading} if reading else {}}
    return inference.Predictor(Fixed(logits), meta, "fixed", tta=False)


def test_ten_outputs_read_as_digits_without_a_score():
    p = predictor([0.0] * 3 + [4.0] + [0.0] * 6)
    r = p.read(ink())
    assert isinstance(r, mnist_core.Reading) and not p.has_detector
    assert r.digit == 3 and r.is_digit and r.digit_score is None
    assert r.probabilities.shape == (10,) and r.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(r.probabilities, p.predict_proba(ink()), rtol=1e-6)  # predict_proba unchanged


def test_eleventh_output_says_not_a_digit_and_keeps_the_guess():
    star = predictor([0.0] * 7 + [3.0] + [0.0] * 2 + [8.0], {"temperature": 1.0, "threshold": 0.5})
    r = star.read(ink())
    assert star.has_detector and r.digit == 7 and not r.is_digit
    assert 0.0 <= r.digit_score < 0.01  # the 11th output holds almost all of the eleven's probability
    assert r.probabilities.shape == (10,) and r.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    three = predictor([0.0] * 3 + [8.0] + [0.0] * 6 + [-2.0], {"temperature": 1.0, "threshold": 0.5})
    r3 = three.read(ink())
    assert r3.is_digit and r3.digit == 3 and r3.digit_score > 0.99


def test_threshold_and_temperature_come_from_the_checkpoint():
    logits = [0.0] * 3 + [2.0] + [0.0] * 6 + [1.0]
    strict, lax = predictor(logits, {"threshold": 0.9}), predictor(logits, {"threshold": 0.1})
    assert not strict.read(ink()).is_digit and lax.read(ink()).is_digit
    assert strict.read(ink()).digit_score == pytest.approx(lax.read(ink()).digit_score)
    hot = predictor(logits, {"temperature": 2.0})
    assert hot.read(ink()).confidence < lax.read(ink()).confidence  # a higher temperature: less sure


def test_blank_reads_none_and_batches_agree():
    p = predictor([0.0] * 5 + [3.0] + [0.0] * 4 + [-1.0])
    assert p.read(np.zeros((280, 280), np.uint8)) is None
    x = np.zeros((3, 28, 28), np.float32)
    readings = p.read_batch(x)
    assert len(readings) == 3 and all(r.digit == 5 for r in readings)


def test_shipped_model_reads():
    p = mnist_core.load_model("cnn")
    r = p.read(ink())
    assert r.digit == 1 and r.confidence > 0.5
    assert (r.digit_score is None) == (not p.has_detector)


@pytest.mark.parametrize("name", ["cnn", "simple_convnet", "mlp"])  # the shipped models with the 11th output
def test_shipped_model_reads_a_dash_as_not_a_digit_and_a_standing_line_as_a_1(name):
    p = mnist_core.load_model(name)
    assert p.has_detector
    t = np.linspace(0, 1, 30, dtype=np.float32)
    for seed in range(4):
        rng = np.random.default_rng(seed)
        dash = p.read(pen.render(negatives.drawing([np.stack([t, 0.05 * t], 1)]), rng))
        one = p.read(pen.render(negatives.drawing([np.stack([0.1 * t, t], 1)]), rng))
        assert not dash.is_digit, dash
        assert one.is_digit and one.digit == 1, one
