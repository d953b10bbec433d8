"""Does a model's confidence mean what it says? Expected calibration error, the reliability table
behind it, and temperature scaling (Guo et al. 2017: one number that divides the logits, fitted to
minimise the negative log-likelihood on labelled data the model was not tuned on).

A model that reads each input in several views (inference.TTA_VIEWS) averages the views' softmax;
so does everything here: logits are (N, 10), or (N, V, 10) for V views of each input.
"""

from __future__ import annotations

import numpy as np

BINS = 15
T_RANGE = (0.05, 20.0)  # temperatures searched (log-spaced golden-section search)


def softmax(logits, temperature: float = 1.0) -> np.ndarray:
    """(N, 10) or (N, V, 10) logits -> (N, 10) probabilities: softmax(logits / T), averaged over views."""
    z = np.asarray(logits, np.float64) / float(temperature)
    z = z - z.max(-1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(-1, keepdims=True)
    return p.mean(1) if p.ndim == 3 else p


def nll(logits, labels, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the labels under softmax(logits / T)."""
    p = softmax(logits, temperature)
    labels = np.asarray(labels, np.int64)
    return float(-np.log(np.clip(p[np.arange(len(labels)), labels], 1e-12, None)).mean())


def fit_temperature(logits, labels, iters: int = 60) -> float:
    """The temperature T that minimises nll(logits, labels, T), by golden-section search on log T
    over T_RANGE (the likelihood has one minimum in T for one view; close enough for averaged views)."""
    if len(labels) == 0:
        return 1.0
    lo, hi = np.log(T_RANGE[0]), np.log(T_RANGE[1])
    g = (np.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(logits, labels, np.exp(a)), nll(logits, labels, np.exp(b))
    for _ in range(iters):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(logits, labels, np.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(logits, labels, np.exp(b))
    return float(np.exp((lo + hi) / 2))


def reliability(probs, labels, bins: int = BINS) -> list[dict]:
    """Per confidence bin (equal widths over [0, 1]; empty bins left out): its range, how many
    readings fall in it, their mean confidence and how many of them are right."""
    probs, labels = np.asarray(probs, np.float64), np.asarray(labels)
    conf, right = probs.max(1), probs.argmax(1) == labels
    which = np.clip((conf * bins).astype(int), 0, bins - 1)  # a confidence of 1.0 is in the top bin
    out = []
    for b in range(bins):
        m = which == b
        if m.any():
            out.append(
                {
                    "low": b / bins,
                    "high": (b + 1) / bins,
                    "count": int(m.sum()),
                    "confidence": float(conf[m].mean()),
                    "accuracy": float(right[m].mean()),
                }
            )
    return out


def ece(probs, labels, bins: int = BINS) -> float:
    """Expected calibration error: the gap between confidence and accuracy in each bin of
    `reliability`, weighted by the bin's share of the readings (0 is perfect)."""
    n = len(labels)
    if n == 0:
        return 0.0
    return float(sum(r["count"] / n * abs(r["confidence"] - r["accuracy"]) for r in reliability(probs, labels, bins)))
