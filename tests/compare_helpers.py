"""Small test-made checkpoints and hostile files for the Compare tests (not a test module)."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import torch

from mnist_core import checkpoints, measure
from mnist_core.config import TrainConfig
from mnist_core.training import train

# Two small, quick architectures with different accuracy on the synthetic digits.
ARCHS = ("softmax", "mlp_128_64")


def make_model(out: Path, arch: str, data_root: Path, epochs: int = 2, seed: int = 0, name: str | None = None) -> Path:
    """Train `arch` briefly on the small data set (CPU) and save it at `out`."""
    cfg = TrainConfig(arch=arch, epochs=epochs, batch_size=64, train_limit=600, seed=seed, device="cpu", log_every=2)
    result = train(cfg, data_root=data_root)
    assert result.usable, result.message
    return result.save(out, name=name or out.stem)


def use_models(trained: dict[str, Path], tmp_path: Path, monkeypatch, data_root: Path) -> Path:
    """A fresh copy of `trained` as the shipped models, an empty runs folder, the small data set,
    and a small drawn-digit sample so that measuring stays quick; returns the models folder."""
    models = tmp_path / "models"
    models.mkdir()
    for p in trained.values():
        shutil.copy2(p, models / p.name)
    monkeypatch.setenv("MNIST_MODELS_DIR", str(models))
    monkeypatch.setenv("MNIST_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("MNIST_DATA_DIR", str(data_root))
    monkeypatch.delenv("MNIST_CACHE_DIR", raising=False)
    monkeypatch.setattr(measure, "DRAWN_N", 60)
    return models


class RunsCode:
    """Unpickling this calls os.mkdir(marker): proof of code execution if the folder appears."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def code_running_checkpoint(path: Path, marker: Path, fmt: str = "torch") -> Path:
    """A file shaped like a checkpoint whose unpickling would run code (torch zip or raw pickle)."""
    payload = {
        "format": checkpoints.FORMAT,
        "version": checkpoints.VERSION,
        "arch": "softmax",
        "state_dict": {},
        "name": "evil",
        "hook": RunsCode(marker),
    }
    if fmt == "torch":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    return path
