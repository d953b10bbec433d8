"""Drawn-digit generator: MNIST *test* digits re-rendered as a canvas would hold them.

Each digit is upscaled to a random size (small to nearly the full canvas), placed anywhere,
its strokes thinned or thickened and sharpened like a pen's, then put on one of four
backgrounds a user's input can have: transparent with white or black ink, black with white ink,
white paper with black ink. Used by bench/drawn_digits.py and by the Compare page's measurements
(mnist_core.measure). Never built from training images.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from . import data
from .preprocess import preprocess, squash

CANVAS = 280
STYLES = ("transparent-white", "transparent-black", "black-white", "white-black")


def _morph(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Grey dilation (radius > 0) or erosion (radius < 0) with a square of side 2|r|+1."""
    if radius == 0:
        return x
    r = abs(radius)
    sign = 1 if radius > 0 else -1
    x = F.max_pool2d(sign * x, (2 * r + 1, 1), 1, (r, 0))  # a square is separable: rows,
    return sign * F.max_pool2d(x, (1, 2 * r + 1), 1, (0, r))  # then columns


def render(digit: np.ndarray, rng: np.random.Generator, canvas: int = CANVAS) -> np.ndarray:
    """One 28x28 uint8 MNIST digit -> (canvas, canvas, 4) uint8 RGBA drawing."""
    d = digit.astype(np.float32) / 255.0
    rows, cols = np.flatnonzero(d.max(1) > 0.2), np.flatnonzero(d.max(0) > 0.2)
    d = d[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = d.shape
    size = rng.uniform(0.25, 0.95) * canvas  # the longer side of the drawn digit
    th, tw = max(2, round(h * size / max(h, w))), max(2, round(w * size / max(h, w)))
    x = F.interpolate(torch.from_numpy(d)[None, None], size=(th, tw), mode="bilinear", align_corners=False)
    # Stroke width: MNIST's is about 1/8 of the digit's height; change it by -30%..+100%.
    stroke = size / 8
    x = F.pad(x, (canvas // 8,) * 4)
    x = _morph(x, int(round(rng.uniform(-0.15, 0.5) * stroke)))
    x = ((x - 0.35) * 4).clamp(0, 1)  # a pen's solid core and a thin anti-aliased edge
    x = x[0, 0].numpy()
    rs, cs = np.flatnonzero(x.max(1) > 0), np.flatnonzero(x.max(0) > 0)
    x = x[rs[0] : rs[-1] + 1, cs[0] : cs[-1] + 1][:canvas, :canvas]
    ink = np.zeros((canvas, canvas), np.float32)
    top = rng.integers(0, canvas - x.shape[0] + 1)
    left = rng.integers(0, canvas - x.shape[1] + 1)
    ink[top : top + x.shape[0], left : left + x.shape[1]] = x
    a = (ink * 255).astype(np.uint8)
    out = np.zeros((canvas, canvas, 4), np.uint8)
    style = STYLES[rng.integers(len(STYLES))]
    if style == "transparent-white":
        out[..., :3], out[..., 3] = 255, a
    elif style == "transparent-black":
        out[..., 3] = a
    elif style == "black-white":
        out[..., :3], out[..., 3] = a[..., None], 255
    else:
        out[..., :3], out[..., 3] = 255 - a[..., None], 255
    return out


def drawn_samples(n: int, seed: int = 0, data_root=None):
    """Yield (rgba_image, label) for n test digits chosen and drawn with a fixed seed."""
    test = data.load("mnist", train=False, root=data_root)
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(test), size=min(n, len(test)), replace=False)
    images = test.images.numpy()
    for i in idx:
        yield render(images[i], rng), int(test.labels[i])


def drawn_inputs(n: int, seed: int = 0, data_root=None) -> dict:
    """The model inputs for n drawn digits, computed once per process for each (n, seed, data folder):
    {"labels": (n,), "preprocess": (n, 28, 28), "squash": (n, 28, 28), "blank": bool masks}.
    A digit that either method finds blank gets zeros and counts as wrong.

    Keyed by the resolved data folder (as data.load is), not by `data_root` as given: None means
    $MNIST_DATA_DIR read now, which may name another folder than it did at the last call."""
    return _drawn_inputs(n, seed, str(data.data_dir(data_root).resolve()))


@lru_cache(maxsize=4)
def _drawn_inputs(n: int, seed: int, data_root: str) -> dict:
    out: dict = {"labels": [], "preprocess": [], "squash": [], "blank_preprocess": [], "blank_squash": []}
    for image, label in drawn_samples(n, seed, data_root):
        out["labels"].append(label)
        for name, fn in (("preprocess", preprocess), ("squash", squash)):
            x = fn(image)
            out[f"blank_{name}"].append(x is None)
            out[name].append(np.zeros((28, 28), np.float32) if x is None else x)
    return {k: np.array(v) for k, v in out.items()}


def drawn_accuracy(predictor, n: int = 500, seed: int = 0, data_root=None, method: str = "preprocess") -> float:
    """Accuracy of a Predictor on n drawn digits, through `preprocess` (or the naive `squash`)."""
    d = drawn_inputs(n, seed, data_root)
    if len(d["labels"]) == 0:
        return 0.0
    x = d[method]
    probs = np.concatenate([predictor.proba_batch(x[i : i + 1000]) for i in range(0, len(x), 1000)])
    correct = (probs.argmax(1) == d["labels"]) & ~d[f"blank_{method}"]
    return float(correct.mean())
