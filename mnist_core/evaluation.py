"""Measuring a model on a test set: the network alone (what training reports after each epoch), and a
Predictor as the app reads (accuracy, confusion matrix, per-class accuracy, its mistakes), kept for the
Compare page in the measurements' disk cache as an Evaluation (npz, read with allow_pickle=False)."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import cache, checkpoints, data, inference
from .inference import Predictor

MISTAKES_KEPT = 120  # most confident mistakes stored per evaluation (the gallery shows fewer)


class Stopped(Exception):
    pass


def loss_and_accuracy(
    model: nn.Module,
    split: data.Split,
    device: torch.device | str = "cpu",
    batch_size: int = 2000,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of the network alone over a split, in inference mode and large
    batches: what training measures after each epoch. Over the ten digits' outputs: a network with an 11th,
    "not a digit" output is measured on which digit it reads. Raises Stopped when `should_stop` says so."""
    model.eval()
    total_loss, correct = 0.0, 0
    with torch.inference_mode():
        for i in range(0, len(split), batch_size):
            if should_stop and should_stop():
                raise Stopped
            x = data.normalize(split.images[i : i + batch_size], device)
            y = split.labels[i : i + batch_size].to(device)
            logits = model(x)[:, :10]  # the digits' outputs (not the "not a digit" one, where there is one)
            total_loss += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
    return total_loss / max(len(split), 1), correct / max(len(split), 1)


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, classes: int = 10) -> np.ndarray:
    """(classes, classes) counts: row = true label, column = prediction."""
    return np.bincount(labels * classes + preds, minlength=classes * classes).reshape(classes, classes)


def evaluate(predictor: Predictor, images_uint8: torch.Tensor, labels: torch.Tensor, batch: int = 2000) -> dict:
    """Batched evaluation of raw MNIST tensors: accuracy, confusion, per-class accuracy, mistakes."""
    probs = (
        np.concatenate(
            [
                predictor.proba_batch(images_uint8[i : i + batch].float().numpy() / 255.0)
                for i in range(0, len(labels), batch)
            ]
        )
        if len(labels)
        else np.zeros((0, 10), np.float32)
    )
    y = labels.numpy()
    pred = probs.argmax(1)
    cm = confusion_matrix(y, pred)
    per_class = np.diag(cm) / np.maximum(cm.sum(1), 1)
    wrong = np.flatnonzero(pred != y)
    wrong = wrong[np.argsort(-probs[wrong, pred[wrong]])]  # most confident mistakes first
    return {
        "accuracy": float((pred == y).mean()) if len(y) else 0.0,
        "confusion": cm,
        "per_class": per_class,
        "predictions": pred,
        "probs": probs,
        "mistakes": wrong,
    }


@dataclass(frozen=True)
class Evaluation:
    """A model on the whole test set. Mistakes are sorted most confident first."""

    accuracy: float
    n: int
    confusion: np.ndarray  # (10, 10) int: row = true label, column = prediction
    per_class: np.ndarray  # (10,) accuracy per true label
    mistake_index: np.ndarray  # (k,) positions in the test set
    mistake_pred: np.ndarray  # (k,)
    mistake_true: np.ndarray  # (k,)
    mistake_conf: np.ndarray  # (k,) probability of the wrong prediction
    mistake_images: np.ndarray  # (k, 28, 28) uint8

    @property
    def mistakes(self) -> int:
        return int(self.n - np.trace(self.confusion))

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, **{k: np.asarray(getattr(self, k)) for k in self.__dataclass_fields__})
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, payload: bytes) -> Evaluation:
        """ValueError (or another exception of numpy's) for bytes that are not one; never unpickles."""
        with np.load(io.BytesIO(payload), allow_pickle=False) as z:
            return cls(
                **{k: z[k] for k in cls.__dataclass_fields__ if k not in ("accuracy", "n")},
                accuracy=float(z["accuracy"]),
                n=int(z["n"]),
            )


def _measure(path: Path, dataset: str, data_root) -> Evaluation:
    model, meta = checkpoints.load(path)
    predictor = Predictor(model, meta, path.stem, path, tta=False)  # as training measures it
    split = data.load(dataset, train=False, root=data_root, download=False)
    res = evaluate(predictor, split.images, split.labels)
    top = res["mistakes"][:MISTAKES_KEPT]
    pred = res["predictions"][top]
    return Evaluation(
        accuracy=res["accuracy"],
        n=len(split),
        confusion=res["confusion"].astype(np.int64),
        per_class=res["per_class"].astype(np.float64),
        mistake_index=top.astype(np.int64),
        mistake_pred=pred.astype(np.int64),
        mistake_true=split.labels.numpy()[top].astype(np.int64),
        mistake_conf=res["probs"][top, pred].astype(np.float64),
        mistake_images=split.images.numpy()[top].astype(np.uint8).reshape(-1, 28, 28),
    )


def on_test_set(
    entry: inference.ModelEntry, dataset: str = "mnist", cdir: str | os.PathLike | None = None, data_root=None
) -> Evaluation:
    """The model's evaluation on the test set, cached per checkpoint content and test files.

    Raises data.DataUnavailable when the test set is absent, CheckpointError for a bad file (OSError for
    one that cannot be read).
    """
    path = Path(entry.path)
    if not data.is_available(dataset, data_root):
        raise data.DataUnavailable(
            f"the {data.DATASETS[dataset][1]} test set is not available in {data.raw_dir(dataset, data_root)} "
            f"(set MNIST_DATA_DIR to a folder holding {data.DATASETS[dataset][1]}/raw/)"
        )
    target = cache.entry(
        "eval", "npz", cache.content_key(path), dataset, cache.test_files_key(dataset, data_root), cdir=cdir
    )
    payload = cache.read(target)
    if payload is not None:
        try:
            return Evaluation.from_bytes(payload)
        except Exception:  # truncated, or not an evaluation: measure again
            pass
    ev = _measure(path, dataset, data_root)
    cache.store(target, ev.to_bytes())
    return ev


def gallery(ev: Evaluation, k: int = 24, scale: int = 3) -> list[tuple[np.ndarray, str]]:
    """The k most confident mistakes as (image upscaled `scale` times, caption)."""
    out = []
    picked = (ev.mistake_images[:k], ev.mistake_pred[:k], ev.mistake_true[:k], ev.mistake_conf[:k])
    for img, p, t, c in zip(*picked, strict=True):
        big = np.kron(img, np.ones((scale, scale), np.uint8))  # nearest-neighbour, crisp pixels
        out.append((big, f"predicted {p}, true {t} ({100 * c:.0f}%)"))
    return out
