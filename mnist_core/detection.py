"""How well a model tells digits from what is not one, and whether its confidence means what it says: the
figures the Compare page shows beside accuracy. bench/not_a_digit.py prints them kind by kind, on more
drawings.

- digits kept: the share of UNIPEN's benchmark writers' digits (drawn on the canvas, as pen.benchmark
  reads them) that the model reads as digits;
- non-digits refused: the share of the project's held-out non-digits (negatives.HELD_OUT_KINDS, kinds no
  model is trained on: HELD_OUT_N of each, drawn on the canvas) it says are not digits;
- calibration: on the same benchmark digits, the expected calibration error of the probabilities the app
  shows and the reliability diagram's bins (calibration.reliability).

The non-digits' inputs are drawn once and cached on disk (`settings.cache_dir("negatives")`), keyed by the
code that draws them.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import calibration, data, negatives, pen, settings
from .files import atomic_path

HELD_OUT_N = 50  # drawings of each held-out kind: 300 in all (the bench draws more)
HELD_OUT_SEED = 0
_DRAWN_BY = ("negatives.py", "negatives_glyphs.py", "negatives_shapes.py", "pen.py", "preprocess.py")


def _key() -> str:
    here = Path(__file__).resolve().parent
    h = hashlib.blake2b(digest_size=8)
    for name in _DRAWN_BY:
        h.update((here / name).read_bytes())
    h.update(f"{HELD_OUT_N}/{HELD_OUT_SEED}".encode())
    return h.hexdigest()


@lru_cache(maxsize=1)
def held_out_inputs() -> np.ndarray:
    """(N, 28, 28) float32: the held-out kinds' drawings as the model reads them (blank ones left out)."""
    cache = settings.cache_dir("negatives") / f"held-out-{_key()}.npz"
    try:
        with np.load(cache) as z:
            return z["x"]
    except (OSError, ValueError, KeyError):
        pass
    xs = [x for kind in negatives.HELD_OUT_KINDS for x in negatives.make(kind, HELD_OUT_N, HELD_OUT_SEED)]
    x = np.stack([x for x in xs if x is not None and x.any()]).astype(np.float32)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, x=x)
    except OSError:
        pass  # a cache that cannot be written costs the next process the drawing again, nothing more
    return x


def refused(predictor) -> float | None:
    """The share of held-out non-digits the model says are not digits; None without a detector."""
    if not predictor.has_detector:
        return None
    _, scores = predictor.scores_batch(held_out_inputs())
    return float(np.mean(scores < predictor.reading["threshold"]))


def on_benchmark_writers(predictor, root=None) -> dict:
    """On UNIPEN's benchmark writers' digits (pen.benchmark_inputs; DataUnavailable without UNIPEN), read
    once: {"accuracy": pen.benchmark's figure, "digits_kept": the share read as digits (None without a
    detector), "ece": expected calibration error, "reliability": calibration.reliability's bins}."""
    d = pen.benchmark_inputs(root)
    x, labels, drawn = d["x"], d["labels"], ~d["blank"]
    parts = [predictor.scores_batch(x[i : i + 1000]) for i in range(0, len(x), 1000)]
    probs = np.concatenate([p for p, _ in parts])
    kept = None
    if parts and parts[0][1] is not None:
        scores = np.concatenate([s for _, s in parts])
        kept = float(np.mean(scores[drawn] >= predictor.reading["threshold"]))
    preds = np.where(drawn, probs.argmax(1), -1)
    return {
        "accuracy": pen.score(labels, preds, d["labs"])["accuracy"],
        "digits_kept": kept,
        "ece": calibration.ece(probs[drawn], labels[drawn]),
        "reliability": calibration.reliability(probs[drawn], labels[drawn]),
    }


def figures(predictor, dataset: str, root=None) -> dict:
    """The Compare page's row fields: digits_kept, refused, ece, reliability (None where they cannot be
    measured), detector (whether the model has a "not a digit" output) and detection_note saying why."""
    out = {"digits_kept": None, "refused": refused(predictor), "ece": None, "reliability": None, "detection_note": ""}
    out["detector"] = predictor.has_detector
    if dataset != "mnist":
        return {**out, "detection_note": "pen-drawn digits are digits; this model was trained on another dataset"}
    try:
        out.update(on_benchmark_writers(predictor, root))  # its "accuracy" too: the benchmark read once
    except data.DataUnavailable as exc:
        out["detection_note"] = str(exc).splitlines()[0]
    return out
