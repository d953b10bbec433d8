"""Fitting how a trained model's outputs are read (inference.Predictor.reading): the temperature that
makes the confidence the app shows mean what it says, and the digit score below which a drawing is
"not a digit".

Both are fitted on UNIPEN *training* writers that the run did not train on: one writer in FIT_EVERY
(by writer, so no hand is both learned and fitted on; the benchmark writers are never used), their
digits drawn on the 280 px canvas and read as the app reads them (`preprocess`, the model's views).
The temperature minimises their negative log-likelihood (calibration.fit_temperature); the threshold
keeps KEEP of them as digits.
"""

from __future__ import annotations

import zlib
from functools import lru_cache

import numpy as np

from . import calibration, inference, pen
from .preprocess import preprocess

FIT_EVERY = 10  # one training writer in ten is held out of pen training, to fit the reading on
# share of the held-out writers' digits the threshold keeps: the share of real digits the detector must keep. The
# cnn (12 epochs, seed 0) at 0.995 kept 99.6% of UNIPEN's benchmark writers but refused 83% of the bench's held-out
# non-digits; at 0.99, 99.3% and 89% (docs/models.md)
KEEP = 0.99
RENDERS = 2  # canvas drawings of each held-out digit (each with its own brush, size and place)
SEED = 7


def is_fit_writer(digit: pen.PenDigit) -> bool:
    """Whether this UNIPEN training writer's digits are held out of training, to fit the reading on."""
    return zlib.crc32(f"{digit.lab}/{digit.writer}".encode()) % FIT_EVERY == 0


def fit_mask(digits) -> np.ndarray:
    """(N,) bool over `digits`: the held-out writers' ones."""
    return np.array([is_fit_writer(d) for d in digits], bool)


def fit_inputs(root=None) -> dict:
    """The held-out writers' digits as the app reads them: {"x": (N, 28, 28) float32, "labels": (N,),
    "writers": how many}, RENDERS drawings of each, blank reads left out. Drawn once per process."""
    path = pen.find(root)
    st = path.stat()
    return _fit_inputs(str(path.resolve()), st.st_mtime, st.st_size, None if root is None else str(root))


@lru_cache(maxsize=2)
def _fit_inputs(_path: str, _mtime: float, _size: int, root: str | None) -> dict:
    train, _ = pen.split(pen.load(root))
    held = [d for d in train if is_fit_writer(d)]
    rng = np.random.default_rng(SEED)
    xs, labels = [], []
    for _ in range(RENDERS):
        for d in held:
            x = preprocess(pen.render(d, rng))
            if x is not None:
                xs.append(x)
                labels.append(d.label)
    writers = len({(d.lab, d.writer) for d in held})
    x = np.stack(xs) if xs else np.zeros((0, 28, 28), np.float32)
    return {"x": x, "labels": np.array(labels, np.int64), "writers": writers}


def outputs(predictor: inference.Predictor, x: np.ndarray, batch: int = 1000) -> tuple[np.ndarray, np.ndarray | None]:
    """The digits' logits of each view, (N, V, 10), and the digit scores (N,) (None without a "not a digit"
    output), read through the app's Predictor."""
    logits, scores = [], []
    for i in range(0, len(x), batch):
        out = predictor.logits_batch(x[i : i + batch])  # one pass: the logits and the digit scores from them
        logits.append(out[..., :10].transpose(0, 1).numpy())
        scores.append(predictor.scores_of(out)[1])
    return np.concatenate(logits), None if scores[0] is None else np.concatenate(scores)


def fit(predictor: inference.Predictor, root=None) -> dict:
    """What a checkpoint's extra gains: "reading" ({"temperature": T} and, with the "not a digit" output,
    "threshold") and "reading_fit", what it was fitted on (digits, writers, the share kept, the ECE
    before and after the temperature)."""
    d = fit_inputs(root)
    if not len(d["labels"]):  # no held-out writer in this file: the reading's defaults stand
        return {"reading_fit": {"digits": 0, "writers": 0}}
    plain = inference.Predictor(predictor.model, {"arch": predictor.arch}, predictor.name, tta=predictor.tta)
    logits, scores = outputs(plain, d["x"])  # temperature 1: what the network says
    temperature = calibration.fit_temperature(logits, d["labels"])
    fitted = {
        "digits": len(d["labels"]),
        "writers": d["writers"],
        "ece_before": calibration.ece(calibration.softmax(logits), d["labels"]),
        "ece_after": calibration.ece(calibration.softmax(logits, temperature), d["labels"]),
    }
    reading = {"temperature": float(np.clip(temperature, *calibration.T_RANGE))}
    if scores is not None:
        threshold = float(np.quantile(scores, 1 - KEEP, method="lower"))
        reading["threshold"] = threshold
        fitted["kept"] = float((scores >= threshold).mean())
    return {"reading": reading, "reading_fit": fitted}
