"""Digits drawn with strokes, as a person draws on the canvas: constant brush widths from thin to
fat, any size from small to nearly the whole canvas, anywhere, slightly slanted, hand-shaky.

The shapes are this project's own (not MNIST's), so this checks the whole path a drawing takes
(transparent canvas -> preprocess -> shipped model) on input unlike the training data.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnist_core import inference
from mnist_core.models import ARCHS
from mnist_core.preprocess import preprocess


def arc(cx, cy, rx, ry, n=24):
    t = np.radians(np.linspace(0, 360, n))
    return list(zip(cx + rx * np.sin(t), cy - ry * np.cos(t), strict=True))


# Strokes per digit, in a unit box (x right, y down).
STROKES = {
    0: [arc(0.5, 0.5, 0.3, 0.45)],
    1: [[(0.38, 0.18), (0.52, 0.05), (0.52, 0.95)]],
    2: [[(0.2, 0.25), (0.35, 0.08), (0.65, 0.08), (0.8, 0.25), (0.75, 0.45), (0.2, 0.95), (0.85, 0.95)]],
    3: [
        [
            (0.2, 0.12),
            (0.45, 0.05),
            (0.72, 0.1),
            (0.78, 0.28),
            (0.62, 0.45),
            (0.4, 0.48),
            (0.65, 0.52),
            (0.82, 0.7),
            (0.75, 0.9),
            (0.5, 0.96),
            (0.2, 0.88),
        ]
    ],
    4: [[(0.6, 0.05), (0.15, 0.65), (0.85, 0.65)], [(0.65, 0.3), (0.65, 0.95)]],
    5: [[(0.8, 0.07), (0.3, 0.07), (0.25, 0.45), (0.55, 0.4), (0.8, 0.55), (0.8, 0.8), (0.55, 0.95), (0.2, 0.88)]],
    6: [
        [
            (0.7, 0.05),
            (0.35, 0.35),
            (0.22, 0.65),
            (0.3, 0.9),
            (0.55, 0.95),
            (0.75, 0.8),
            (0.7, 0.6),
            (0.45, 0.55),
            (0.25, 0.68),
        ]
    ],
    7: [[(0.15, 0.08), (0.85, 0.08), (0.45, 0.95)]],
    8: [arc(0.5, 0.27, 0.2, 0.22), arc(0.5, 0.72, 0.25, 0.23)],
    9: [arc(0.48, 0.3, 0.22, 0.25), [(0.7, 0.3), (0.66, 0.95)]],
}


def draw(digit: int, rng: np.random.Generator, canvas: int = 280) -> np.ndarray:
    """A (canvas, canvas, 4) RGBA drawing: white strokes on a transparent canvas."""
    h = rng.uniform(70, 250)
    w = h * rng.uniform(0.55, 0.8)
    x0, y0 = rng.uniform(0, canvas - w), rng.uniform(0, canvas - h)
    angle = np.radians(rng.uniform(-12, 12))
    c, s = np.cos(angle), np.sin(angle)
    width = int(rng.choice([8, 12, 16, 20, 26]))  # brush widths a canvas offers
    img = Image.new("RGBA", (canvas, canvas), (0, 0, 0, 0))
    pen = ImageDraw.Draw(img)
    for stroke in STROKES[digit]:
        pts = []
        for u, v in stroke:
            u, v = u + rng.normal(0, 0.02) - 0.5, v + rng.normal(0, 0.02) - 0.5  # a shaky hand
            pts.append((x0 + w / 2 + u * w * c - v * h * s, y0 + h / 2 + u * w * s + v * h * c))
        pen.line(pts, fill="white", width=width, joint="curve")
        for x, y in (pts[0], pts[-1]):  # round caps, as the canvas draws them
            pen.ellipse([x - width / 2, y - width / 2, x + width / 2, y + width / 2], fill="white")
    return np.asarray(img)


@pytest.fixture(scope="module")
def drawings():
    """300 drawings (30 of each digit), preprocessed once: (N, 28, 28) model inputs and labels."""
    rng = np.random.default_rng(0)
    labels = np.arange(300) % 10
    return np.stack([preprocess(draw(int(d), rng)) for d in labels]), labels


DRAWN_INPUT = [a for a, arch in ARCHS.items() if arch.drawn_input]


@pytest.mark.parametrize("arch", DRAWN_INPUT)
def test_stroke_drawn_digits_read_right(arch, drawings):
    path = inference.SHIPPED_DIR / f"{arch}.pt"
    if not path.is_file():
        pytest.skip(f"no shipped {arch} model in models/")
    predictor = inference.load_model(path)
    inputs, labels = drawings
    predicted = predictor.proba_batch(inputs).argmax(1)
    wrong = np.bincount(labels[predicted != labels], minlength=10)
    assert (predicted == labels).mean() >= 0.95, f"{arch}: wrong per digit {wrong}"
