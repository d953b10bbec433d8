"""What fine-tuning takes from a collection of the user's drawings (an ordinary training job:
TrainConfig.init_from + collection; mnist_core.trainset mixes it in): whether the collection is ready,
and its drawings as arrays. Drawings kept as "not a digit" (drawings.NOT_A_DIGIT) teach the 11th output
of a model that has one; a model without it learns only the digits."""

from __future__ import annotations

import numpy as np

from .drawings import NOT_A_DIGIT, Drawing, DrawingStore

MIN_PER_DIGIT = 3  # a digit drawn fewer times than this is too few to learn a style from


def too_few(label: int, n: int) -> bool:
    """Whether n drawings of a digit are too few to fine-tune on (drawings kept as not a digit: any number)."""
    return 0 < n < MIN_PER_DIGIT and label != NOT_A_DIGIT


def finetune_problem(store: DrawingStore, collection: str) -> str | None:
    """What is missing before `collection` can be fine-tuned on, in words; None when it is ready."""
    counts = store.counts(collection)
    if not any(counts.values()):
        return f"the collection {collection!r} has no drawings yet: keep some on the Draw page"
    if not any(n for d, n in counts.items() if d != NOT_A_DIGIT):
        return f"the collection {collection!r} has no digits yet, only non-digits: keep some digits on the Draw page"
    missing = {d: MIN_PER_DIGIT - n for d, n in counts.items() if too_few(d, n)}
    if missing:
        return (
            "too few drawings to learn from: "
            + ", ".join(f"draw {k} more {d}{'s' if k > 1 else ''}" for d, k in missing.items())
            + f" (each digit you keep needs at least {MIN_PER_DIGIT})"
        )
    return None


def arrays(part: list[Drawing], non_digits: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(N, 28, 28) uint8 images and (N,) int64 labels of some drawings: the digits, and with non_digits=True
    also those kept as not a digit (label NOT_A_DIGIT)."""
    part = [d for d in part if non_digits or d.digit != NOT_A_DIGIT]
    if not part:
        return np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64)
    return np.stack([d.x28 for d in part]), np.array([d.digit for d in part], np.int64)
