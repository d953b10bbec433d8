"""Hostile checkpoints made by the tests (issue 14's table), never committed: each is a valid-looking
MNIST Lab checkpoint with one thing wrong. Not a test module."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import torch

from mnist_core import checkpoints
from mnist_core.models import build

MARK = 123457  # a distinctive element count, found and replaced in the pickle to make a bomb


def payload(arch: str = "softmax", **changes) -> dict:
    """A well-formed checkpoint dict (untrained weights), with fields changed."""
    model = build(arch)
    base = {
        "format": checkpoints.FORMAT,
        "version": checkpoints.VERSION,
        "name": "x",
        "arch": arch,
        "arch_args": model.arch_args,
        "config": {"arch": arch, "epochs": 1},
        "dataset": "mnist",
        "history": {
            "steps": [[1, 0.5, 2.3, 0.1]],
            "epochs": [
                {
                    "epoch": 1.0,
                    "train_loss": 2.0,
                    "train_accuracy": 0.5,
                    "test_loss": 2.0,
                    "test_accuracy": 0.5,
                    "seconds": 1.0,
                    "images_per_sec": 100.0,
                }
            ],
        },
        "metrics": {"test_accuracy": 0.5, "train_seconds": 1.0, "status": "finished", "epochs_done": 1.0},
        "extra": {},
        "state_dict": model.state_dict(),
    }
    base.update(changes)
    return base


def save(path: Path, obj: dict) -> Path:
    torch.save(obj, path)
    return path


def string_accuracy(path: Path) -> Path:
    p = payload()
    return save(path, {**p, "metrics": {**p["metrics"], "test_accuracy": "100%"}})


def bad_history(path: Path) -> Path:
    """Epochs as plain ints and steps holding strings (what the issue's probe uploaded)."""
    return save(path, payload(history={"epochs": [1, 2], "steps": [["a", "b", "c", "d"], "x"]}))


def nan_weights(path: Path) -> Path:
    state = {k: torch.full_like(v, float("nan")) for k, v in build("softmax").state_dict().items()}
    return save(path, payload(state_dict=state))


def random_weights_claiming_100(path: Path, arch: str = "softmax") -> Path:
    torch.manual_seed(0)
    p = payload(arch)
    return save(path, {**p, "state_dict": build(arch).state_dict(), "metrics": {**p["metrics"], "test_accuracy": 1.0}})


def padded(path: Path, megabytes: float) -> Path:
    """A valid model carrying `megabytes` of padding in `extra`."""
    return save(path, payload(extra={"padding": "x" * int(megabytes * 2**20)}))


def zip_bomb(path: Path, inflated: int = 2**30) -> Path:
    """A checkpoint whose extra tensor is `inflated` bytes of zeros, deflated to about a thousandth.

    Made without allocating it: a small tensor of MARK elements is saved, its element count in the
    pickle is rewritten to inflated / 4, and its data entry is written as a deflated stream of zeros.
    torch.load (without the size check) inflates and allocates all of it.
    """
    buf = io.BytesIO()
    torch.save(payload(extra={"pad": torch.zeros(MARK)}), buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    pkl_name = next(n for n in src.namelist() if n.endswith("data.pkl"))
    old, new = struct.pack("<i", MARK), struct.pack("<i", inflated // 4)
    pkl = src.read(pkl_name)
    assert pkl.count(b"J" + old) >= 1, "the marker count was not found in the pickle"
    pkl = pkl.replace(b"J" + old, b"J" + new)
    pad_entry = next(n for n in src.namelist() if src.getinfo(n).file_size == MARK * 4)
    chunk = bytes(16 * 2**20)
    with zipfile.ZipFile(path, "w") as out:
        for info in src.infolist():
            if info.filename == pkl_name:
                out.writestr(info.filename, pkl, zipfile.ZIP_STORED)
            elif info.filename == pad_entry:
                entry = zipfile.ZipInfo(info.filename)
                entry.compress_type = zipfile.ZIP_DEFLATED
                with out.open(entry, "w", force_zip64=True) as f:
                    for _ in range(inflated // len(chunk)):
                        f.write(chunk)
            else:
                out.writestr(info.filename, src.read(info.filename), zipfile.ZIP_STORED)
    return path
