"""What a run trains on, gathered once on its device: MNIST (or FashionMNIST), UNIPEN's training
writers' pen-drawn digits (rendered once and cached), and, when fine-tuning, the user's collection
repeated to a share of the images. An epoch's images are index slices of these tensors, never copies
of single images (the design's "batches from memory")."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from . import data, drawings, pen
from .config import TrainConfig

PEN_RENDERS = 4  # cached renders of each pen-drawn digit, taken in turn
# what a run with `styles` saw, recorded in its checkpoint (augment.style_batch on MNIST; on pen renders
# pen_styles.add_style)
STYLES_SEEN = (
    "slashed 0, crossed 7, flagged 1 (a hook to a long flag; and foot), curled 9; "
    "on pen renders also a floating-bar 5 and a small-headed 9"
)
PEN_PER_EPOCH = 2  # renders of each pen-drawn digit in one epoch (2: 97.2% against 96.5% with 1, cnn 3 epochs)
# pen-drawn digits that come once more in each epoch, from the renders the epoch does not use: the 1s, whose
# flags read as 7s (cnn 12 epochs: the benchmark writers' 1s 96.8% with them, 95.4% without; docs/experiments.md)
PEN_AGAIN = (1,)
# fine-tuning: the user's drawings, repeated (and augmented), make this share of the images; with distillation
# keeping MNIST, half the batch can be the user's (bench/finetune_writer.py: 4-5 errors left of 12 at 0.5, 5-6 at 0.25)
COLLECTION_SHARE = 0.5


def with_again(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pen renders (R, N, 28, 28) and labels (N,) with the PEN_AGAIN digits appended once more, their
    renders rolled by PEN_PER_EPOCH: an epoch, which takes PEN_PER_EPOCH renders of each, then sees those
    digits in the renders it leaves out of the first copies."""
    again = np.flatnonzero(np.isin(labels, PEN_AGAIN))
    return (
        np.concatenate([images, np.roll(images[:, again], PEN_PER_EPOCH, axis=0)], 1),
        np.concatenate([labels, labels[again]]),
    )


@dataclass
class TrainingData:
    """What one run trains and is measured on, on its device."""

    images: torch.Tensor  # (N, 28, 28) uint8: MNIST (or Fashion), then the user's collection repeated
    labels: torch.Tensor  # (N,)
    test: data.Split
    pen_images: torch.Tensor | None = None  # (renders, P, 28, 28) uint8: pen-drawn digits, PEN_PER_EPOCH an epoch
    pen_labels: torch.Tensor | None = None  # (P,)
    held_out: data.Split | None = None  # fine-tuning: the collection's held-out drawings
    mine_rows: tuple[int, int] = (0, 0)  # fine-tuning: [start, end) of the collection's rows in `images`
    seen: dict = field(default_factory=dict)  # what it is, as the checkpoint records it (data_seen)

    def __len__(self) -> int:
        """Images in one epoch."""
        return len(self.labels) + (PEN_PER_EPOCH * len(self.pen_labels) if self.pen_labels is not None else 0)

    def epoch(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This epoch's images and labels: the base set and PEN_PER_EPOCH renders of each pen digit."""
        if self.pen_images is None:
            return self.images, self.labels
        picks = [(epoch * PEN_PER_EPOCH + j) % len(self.pen_images) for j in range(PEN_PER_EPOCH)]
        return (
            torch.cat([self.images, *self.pen_images[picks]]),
            torch.cat([self.labels, *[self.pen_labels] * PEN_PER_EPOCH]),
        )


def load(config: TrainConfig, data_root, device: torch.device) -> TrainingData:
    """Load (and, for pen data, render once and cache) everything the run trains on, onto `device`."""
    train_split = data.load(config.dataset, train=True, root=data_root)
    images, labels = train_split.images, train_split.labels
    if config.train_limit:
        images, labels = images[: config.train_limit], labels[: config.train_limit]
    td = TrainingData(images.to(device), labels.to(device), data.load(config.dataset, train=False, root=data_root))
    td.seen[config.dataset] = len(labels)  # the whole set once: 47 MB
    if config.pen_data:  # rendered once and cached: (renders, N, 28, 28) uint8; PEN_PER_EPOCH renders an epoch
        pimg, plab = pen.training_set(data_root, renders=PEN_RENDERS, seed=0)
        keep = len(plab) if not config.train_limit else min(len(plab), max(1, config.train_limit // 5))
        pimg, plab = with_again(pimg[:, :keep], plab[:keep])
        td.pen_images, td.pen_labels = torch.from_numpy(pimg).to(device), torch.from_numpy(plab).to(device)
        td.seen["unipen_training_writers"] = keep
        td.seen["unipen_again"] = {"digits": list(PEN_AGAIN), "images": len(plab) - keep}
        td.seen["unipen_benchmark_labs_left_out"] = list(pen.BENCHMARK_LABS)
    if config.styles:
        td.seen["styles"] = STYLES_SEEN
    if config.collection:
        _add_collection(td, config.collection, device)
    return td


def _add_collection(td: TrainingData, collection: str, device: torch.device) -> None:
    """Fine-tuning: the training part of the user's collection, repeated to COLLECTION_SHARE of the images."""
    store = drawings.DrawingStore()
    if problem := drawings.finetune_problem(store, collection):
        raise ValueError(f"cannot fine-tune on {collection!r}: {problem}")
    part, held = store.split(collection)
    mine_x, mine_y = (torch.from_numpy(a).to(device) for a in drawings.arrays(part))
    n = len(td.labels)
    reps = max(1, round(COLLECTION_SHARE / (1 - COLLECTION_SHARE) * n / len(mine_y)))
    td.mine_rows = (n, n + reps * len(mine_y))
    td.images = torch.cat([td.images, mine_x.repeat(reps, 1, 1)])
    td.labels = torch.cat([td.labels, mine_y.repeat(reps)])
    td.held_out = data.Split(*(torch.from_numpy(a) for a in drawings.arrays(held))) if held else None
    td.seen["collection"] = {"name": collection, "drawings": len(mine_y), "held_out": len(held), "repeats": reps}
