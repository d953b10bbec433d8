"""What a run trains on, gathered once on its device: MNIST (or FashionMNIST), UNIPEN's training
writers' pen-drawn digits (rendered once and cached), the project's own non-digits for the "not a
digit" output (drawn once and cached, label NOT_A_DIGIT), and, when fine-tuning, the user's collection
repeated to a share of the images. Everything sits in one tensor, `pool`, built once; an epoch is a
list of its rows and each batch is gathered from it by index: no copy of an epoch is ever made (the
design's "batches from memory")."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from . import data, drawings, finetuning, fit_reading, negatives, negatives_cache, pen, pen_styles
from .catalog import NOT_A_DIGIT as NOT_A_DIGIT  # the non-digits' label: the 11th output
from .config import TrainConfig

PEN_RENDERS = 4  # cached renders of each pen-drawn digit, taken in turn
# what a run with `styles` saw, recorded in its checkpoint (augment.style_batch on MNIST; on pen renders
# pen_styles.add_style)
STYLES_SEEN = (
    "slashed 0, crossed 7, flagged 1 (a hook to a long flag; and foot), curled 9; "
    "on pen renders also a floating-bar 5 and a small-headed 9"
    + (f"; and {', '.join(k for k, on in pen_styles.STYLES.items() if on)}" if pen_styles.signature() else "")
)
PEN_PER_EPOCH = 2  # renders of each pen-drawn digit in one epoch (2: 97.2% against 96.5% with 1, cnn 3 epochs)
# pen-drawn digits that come once more in each epoch, from the renders the epoch does not use: the 1s, whose
# flags read as 7s (cnn 12 epochs: the benchmark writers' 1s 96.8% with them, 95.4% without; docs/experiments.md)
PEN_AGAIN = (1,)
# fine-tuning: the user's drawings, repeated (and augmented), make this share of the images; with distillation
# keeping MNIST, half the batch can be the user's (bench/finetune_writer.py: 4-5 errors left of 12 at 0.5, 5-6 at 0.25)
COLLECTION_SHARE = 0.5
# non-digits in one epoch, consecutive drawings of the cached set (negatives_cache: 3,000 of each of the 11
# train kinds, interleaved), so each epoch sees every kind evenly and the next 28,000 drawings (33,000 in all:
# most are seen every epoch, augmented anew); a quarter of the shipped recipe's epoch. cnn, 12 epochs, seed 0
# (docs/experiments.md): 14,000 refused 92.3% of the bench's held-out kinds but kept 99.4% of MNIST's test
# digits, 28,000 refused 91.3% and kept 99.6%
NEGATIVES_PER_EPOCH = 28000
# fine-tuning a model with the "not a digit" output: of each train kind, so few that a first fine-tune draws
# them in seconds (then cached); a few hundred steps see some of each
FINETUNE_NEGATIVES_PER_KIND = 100


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
    neg_images: torch.Tensor | None = None  # (M, 28, 28) uint8: non-digits, NEGATIVES_PER_EPOCH of them an epoch
    held_out: data.Split | None = None  # fine-tuning: the collection's held-out drawings
    mine_rows: tuple[int, int] = (0, 0)  # fine-tuning: [start, end) of the collection's rows in `images`
    seen: dict = field(default_factory=dict)  # what it is, as the checkpoint records it (data_seen)
    start_reading: dict | None = None  # fine-tuning: how the starting model's outputs are read (its extra.reading)

    pool: torch.Tensor | None = None  # (rows, 28, 28) uint8: all of the above, built once (`build_pool`)
    pool_labels: torch.Tensor | None = None  # (rows,)

    def __len__(self) -> int:
        """Images in one epoch."""
        pen_rows = PEN_PER_EPOCH * len(self.pen_labels) if self.pen_labels is not None else 0
        neg_rows = min(NEGATIVES_PER_EPOCH, len(self.neg_images)) if self.neg_images is not None else 0
        return len(self.labels) + pen_rows + neg_rows

    def build_pool(self) -> None:
        """One tensor of every image the run may train on: the base set, each pen render, the non-digits."""
        parts, labels = [self.images], [self.labels]
        if self.pen_images is not None:
            parts.append(self.pen_images.flatten(0, 1))
            labels.append(self.pen_labels.repeat(len(self.pen_images)))
        if self.neg_images is not None:
            parts.append(self.neg_images)
            labels.append(torch.full_like(self.labels[:1], NOT_A_DIGIT).expand(len(self.neg_images)))
        self.pool, self.pool_labels = (torch.cat(parts), torch.cat(labels)) if len(parts) > 1 else (parts[0], labels[0])

    def epoch(self, epoch: int) -> torch.Tensor:
        """This epoch's rows of `pool`: the base set, PEN_PER_EPOCH renders of each pen digit (taken in turn)
        and the next NEGATIVES_PER_EPOCH non-digits."""
        if self.pool is None:
            self.build_pool()
        device = self.labels.device
        rows = [torch.arange(len(self.labels), device=device)]
        start = len(self.labels)
        if self.pen_images is not None:
            n = len(self.pen_labels)
            for j in range(PEN_PER_EPOCH):
                r = (epoch * PEN_PER_EPOCH + j) % len(self.pen_images)
                rows.append(torch.arange(start + r * n, start + (r + 1) * n, device=device))
            start += len(self.pen_images) * n
        if self.neg_images is not None:
            m, k = len(self.neg_images), min(NEGATIVES_PER_EPOCH, len(self.neg_images))
            rows.append(start + (torch.arange(k, device=device) + epoch * k) % m)
        return torch.cat(rows)


def pen_left_out(train_digits) -> tuple[np.ndarray, np.ndarray]:
    """What a run that learns "not a digit" leaves out of UNIPEN's training digits, as bool masks: (held, the
    writers its reading is fitted on (fit_reading); flat, the few other "digits" that are a flat line, glitches,
    since a flat line is taught as not a digit (negatives.lies_flat))."""
    held = fit_reading.fit_mask(train_digits)
    return held, np.array([negatives.lies_flat(d.strokes) for d in train_digits], bool) & ~held


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
        if config.negatives:  # the writers the reading is fitted on (fit_reading) are held out of training
            held, flat = pen_left_out(pen.split(pen.load(data_root))[0])
            pimg, plab = pimg[:, ~(held | flat)], plab[~(held | flat)]
            td.seen["unipen_held_out_to_fit_the_reading"] = {"digits": int(held.sum())}
            td.seen["unipen_flat_lines_left_out"] = int(flat.sum())
        keep = len(plab) if not config.train_limit else min(len(plab), max(1, config.train_limit // 5))
        pimg, plab = with_again(pimg[:, :keep], plab[:keep])
        td.pen_images, td.pen_labels = torch.from_numpy(pimg).to(device), torch.from_numpy(plab).to(device)
        td.seen["unipen_training_writers"] = keep
        td.seen["unipen_again"] = {"digits": list(PEN_AGAIN), "images": len(plab) - keep}
        td.seen["unipen_benchmark_labs_left_out"] = list(pen.BENCHMARK_LABS)
    if config.negatives:
        neg = negatives_cache.training_set(data_root, FINETUNE_NEGATIVES_PER_KIND if config.collection else None)
        if config.train_limit:
            neg = neg[: max(len(negatives.TRAIN_KINDS), config.train_limit // 10)]
        td.neg_images = torch.from_numpy(neg).to(device)
        td.seen["non_digits"] = {"kinds": list(negatives.TRAIN_KINDS), "drawings": len(neg)}
    if config.styles:
        td.seen["styles"] = STYLES_SEEN
    if config.collection:
        _add_collection(td, config.collection, device, non_digits=config.negatives)
    return td


def _add_collection(td: TrainingData, collection: str, device: torch.device, non_digits: bool) -> None:
    """Fine-tuning: the training part of the user's collection, repeated to COLLECTION_SHARE of the images; the
    drawings kept as "not a digit" too when the model has that output (non_digits), else they are left out. The
    held-out part measured before and after is its digits."""
    store = drawings.DrawingStore()
    if problem := finetuning.finetune_problem(store, collection):
        raise ValueError(f"cannot fine-tune on {collection!r}: {problem}")
    part, held = store.split(collection)
    mine_x, mine_y = (torch.from_numpy(a).to(device) for a in finetuning.arrays(part, non_digits))
    n = len(td.labels)
    reps = max(1, round(COLLECTION_SHARE / (1 - COLLECTION_SHARE) * n / len(mine_y)))
    td.mine_rows = (n, n + reps * len(mine_y))
    td.images = torch.cat([td.images, mine_x.repeat(reps, 1, 1)])
    td.labels = torch.cat([td.labels, mine_y.repeat(reps)])
    held_x, held_y = finetuning.arrays(held)  # the held-out digits: what its accuracy is measured on, as Compare does
    td.held_out = data.Split(torch.from_numpy(held_x), torch.from_numpy(held_y)) if len(held_y) else None
    td.seen["collection"] = {"name": collection, "drawings": len(mine_y), "held_out": len(held_y), "repeats": reps}
    if kept_as_non_digits := sum(d.digit == NOT_A_DIGIT for d in part + held):
        td.seen["collection"]["non_digits" if non_digits else "non_digits_left_out"] = kept_as_non_digits
