"""Small test-made checkpoints and hostile files for the Compare tests (not a test module)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch

from mnist_core import checkpoints
from mnist_core.training import TrainConfig, train

# Two small, quick architectures with different accuracy on the synthetic digits.
ARCHS = ("softmax", "mlp_128_64")


def make_model(out: Path, arch: str, data_root: Path, epochs: int = 2, seed: int = 0, name: str | None = None) -> Path:
    """Train `arch` briefly on the small data set (CPU) and save it at `out`."""
    cfg = TrainConfig(arch=arch, epochs=epochs, batch_size=64, train_limit=600, seed=seed, device="cpu", log_every=2)
    result = train(cfg, data_root=data_root)
    assert result.usable, result.message
    return result.save(out, name=name or out.stem)


class RunsCode:
    """Unpickling this calls os.mkdir(marker): proof of code execution if the folder appears."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def code_running_checkpoint(path: Path, marker: Path, fmt: str = "torch") -> Path:
    """A file shaped like a checkpoint whose unpickling would run code (torch zip or raw pickle)."""
    payload = {"format": checkpoints.FORMAT, "version": checkpoints.VERSION, "arch": "softmax",
               "state_dict": {}, "name": "evil", "hook": RunsCode(marker)}
    if fmt == "torch":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    return path
