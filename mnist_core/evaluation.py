"""Measuring a model on a test set: the network alone (what training reports after each epoch), and a
Predictor as the app reads (accuracy, confusion matrix, per-class accuracy, its mistakes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import data

if TYPE_CHECKING:
    from .inference import Predictor


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
    batches: what training measures after each epoch. Raises Stopped when `should_stop` says so."""
    model.eval()
    total_loss, correct = 0.0, 0
    with torch.inference_mode():
        for i in range(0, len(split), batch_size):
            if should_stop and should_stop():
                raise Stopped
            x = data.normalize(split.images[i : i + batch_size], device)
            y = split.labels[i : i + batch_size].to(device)
            logits = model(x)
            total_loss += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
    return total_loss / max(len(split), 1), correct / max(len(split), 1)


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, classes: int = 10) -> np.ndarray:
    """(classes, classes) counts: row = true label, column = prediction."""
    return np.bincount(labels * classes + preds, minlength=classes * classes).reshape(classes, classes)


def evaluate(predictor: Predictor, images_uint8: torch.Tensor, labels: torch.Tensor, batch: int = 2000) -> dict:
    """Batched evaluation of raw MNIST tensors: accuracy, confusion, per-class accuracy, mistakes."""
    probs = np.concatenate(
        [
            predictor.proba_batch(images_uint8[i : i + batch].float().numpy() / 255.0)
            for i in range(0, len(labels), batch)
        ]
    ) if len(labels) else np.zeros((0, 10), np.float32)
    y = labels.numpy()
    pred = probs.argmax(1)
    cm = confusion_matrix(y, pred)
    per_class = np.diag(cm) / np.maximum(cm.sum(1), 1)
    wrong = np.flatnonzero(pred != y)
    wrong = wrong[np.argsort(-probs[wrong, pred[wrong]])]  # most confident mistakes first
    return {"accuracy": float((pred == y).mean()) if len(y) else 0.0, "confusion": cm,
            "per_class": per_class, "predictions": pred, "probs": probs, "mistakes": wrong}
