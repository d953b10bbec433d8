"""Dataset location, download through torchvision, and the whole set held in memory.

MNIST is small (60,000 x 28 x 28 bytes = 47 MB), so each split is loaded once into one uint8
tensor and training batches are index slices of it: no per-sample PIL pipeline in the hot loop.
The normalisation constants live here, once, for training and inference alike.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from . import public, settings

# Mean and std of the MNIST training pixels in [0, 1]; every model sees (x - MEAN) / STD.
MEAN = 0.1307
STD = 0.3081

# name -> (its class in torchvision.datasets, by name: see torchvision_class; folder under the data dir; class names)
DATASETS = {
    "mnist": ("MNIST", "MNIST", [str(d) for d in range(10)]),
    "fashion": (
        "FashionMNIST",
        "FashionMNIST",
        ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"],
    ),
}
RAW_FILES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]


class DataUnavailable(RuntimeError):
    """The dataset is missing or unreadable; the message says where we looked and what to do (for the
    operator: the command line, the terminal). `public` says it for a visitor: the files named relative to
    the data folder, no server path (public.without_paths of the message unless given)."""

    def __init__(self, message: str, public_text: str | None = None):
        super().__init__(message)
        self.public = public_text if public_text is not None else public.without_paths(message)


@dataclass(frozen=True)
class Split:
    """One split in memory: images uint8 (N, 28, 28), labels int64 (N,)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """`--data-dir`, else $MNIST_DATA_DIR, else ./data (DESIGN.md's data location)."""
    return settings.data_dir(explicit)


def raw_dir(dataset: str = "mnist", root: str | os.PathLike | None = None) -> Path:
    return data_dir(root) / DATASETS[dataset][1] / "raw"


def is_available(dataset: str = "mnist", root: str | os.PathLike | None = None) -> bool:
    """True when the four raw IDX files are on disk (nothing is downloaded)."""
    raw = raw_dir(dataset, root)
    return all((raw / name).is_file() for name in RAW_FILES)


def _help(dataset: str, root: Path, why: str) -> DataUnavailable:
    raw = root / DATASETS[dataset][1] / "raw"
    shown = public.without_paths(why, {root: "the data folder"})
    said = (
        f"{DATASETS[dataset][1]} is not available on this server: {shown}. "
        f"Whoever runs the lab can set MNIST_DATA_DIR to a folder holding {DATASETS[dataset][1]}/raw/ with the "
        f"four files {', '.join(RAW_FILES)}, or place them in the data folder's {DATASETS[dataset][1]}/raw/."
    )
    return DataUnavailable(
        f"{DATASETS[dataset][1]} is not available: {why}\n"
        f"Looked in {raw.resolve()}. Fix it by one of:\n"
        f"  - set MNIST_DATA_DIR (or pass --data-dir) to a folder holding "
        f"{DATASETS[dataset][1]}/raw/ with the four files {', '.join(RAW_FILES)};\n"
        f"  - place those four files in {raw.resolve()};\n"
        f"  - connect to the internet and it is downloaded there automatically.",
        said,
    )


def torchvision_class(dataset: str):
    """torchvision's dataset class for `dataset`. torchvision is imported here, on the first read: importing
    it takes seconds, which a server's first page and the command line's --help would pay for nothing."""
    from torchvision import datasets

    return getattr(datasets, DATASETS[dataset][0])


def _readable_idx(path: Path) -> bool:
    """Whether torchvision can parse this one IDX file (used to name the bad one of a pair)."""
    from torchvision.datasets.mnist import read_sn3_pascalvincent_tensor

    try:
        read_sn3_pascalvincent_tensor(str(path))
    except Exception:
        return False
    return True


def _download(cls, dataset: str, train: bool, root: Path):
    """torchvision's download, leaving nothing behind when it fails: it makes the raw folder (and any
    folder above it) before the first byte arrives, so without internet an empty data/MNIST/raw stayed.
    The top-most folder this call made is removed again, with whatever the failed download left in it."""
    made = raw_dir(dataset, root)
    if made.exists():
        made = None
    else:
        while not made.parent.exists():
            made = made.parent
    try:
        return cls(str(root), train=train, download=True)
    except Exception as exc:  # no internet, a mirror down, a bad checksum
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
        raise _help(dataset, root, f"download failed ({exc})") from exc


@lru_cache(maxsize=8)
def _load_cached(dataset: str, train: bool, root: str, download: bool) -> Split:
    cls = torchvision_class(dataset)
    root_path = Path(root)
    if not is_available(dataset, root_path):
        if not download:
            raise _help(dataset, root_path, "the files are missing")
        ds = _download(cls, dataset, train, root_path)
    else:
        try:
            ds = cls(root, train=train, download=False)
        except Exception as exc:  # a truncated or corrupt IDX file
            prefix = "train" if train else "t10k"
            files = [raw_dir(dataset, root_path) / f for f in RAW_FILES if f.startswith(prefix)]
            bad = [f for f in files if not _readable_idx(f)] or files
            why = str(exc) or type(exc).__name__
            raise DataUnavailable(
                f"Could not read {' / '.join(map(str, bad))}: {why}. The file is corrupt or "
                f"truncated; delete it and place a fresh copy (or let it download).",
                f"Could not read {' / '.join(_relative(f, root_path) for f in bad)} in the data folder: it is "
                "corrupt or truncated; whoever runs the lab can place a fresh copy.",
            ) from exc
    images, labels = ds.data, ds.targets.long()
    if images.dtype != torch.uint8 or images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise DataUnavailable(
            f"Unexpected data in {raw_dir(dataset, root_path)}: images {tuple(images.shape)} "
            f"{images.dtype}, labels {tuple(labels.shape)}"
        )
    _check_labels(dataset, train, root_path, labels)
    return Split(images.contiguous(), labels.contiguous())


def _relative(path: Path, root: Path) -> str:
    """A data file as messages name it: its path inside the data folder (MNIST/raw/...)."""
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return Path(path).name


def _check_labels(dataset: str, train: bool, root: Path, labels: torch.Tensor) -> None:
    """DataUnavailable naming the labels file (relative to the data folder) when a label is not a class:
    an operator's own IDX files may hold any byte, and a label of 200 must not reach the loss as an
    index (an IndexError deep in training)."""
    n = len(DATASETS[dataset][2])
    if not len(labels) or (int(labels.min()) >= 0 and int(labels.max()) < n):
        return
    bad = labels[(labels < 0) | (labels >= n)]
    where = _relative(raw_dir(dataset, root) / f"{'train' if train else 't10k'}-labels-idx1-ubyte", root)
    message = (
        f"{where} in the data folder holds {len(bad):,} label{'s' * (len(bad) != 1)} outside 0-{n - 1} "
        f"(the first: {int(bad[0])}): it is not a {DATASETS[dataset][1]} labels file; place a fresh copy"
    )
    raise DataUnavailable(message, message)


def load(
    dataset: str = "mnist",
    train: bool = True,
    root: str | os.PathLike | None = None,
    download: bool = True,
) -> Split:
    """Load one split into memory once per process (later calls return the same tensors).

    Raises DataUnavailable with a message naming the folder and the fix when the data is absent
    and cannot be downloaded, or when a file is corrupt.
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {sorted(DATASETS)}")
    return _load_cached(dataset, train, str(data_dir(root).resolve()), download)


def normalize(images_uint8: torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 1, 28, 28), normalised, on `device` (done per batch)."""
    x = images_uint8.to(device, non_blocking=True).unsqueeze(1).float().div_(255.0)
    return x.sub_(MEAN).div_(STD)
