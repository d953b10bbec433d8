"""Making a shipped model: train it with its pretraining recipe (mnist_core.recipes.pretrain), score a
drawn-input model on the real-handwriting benchmark (UNIPEN's benchmark writers), and save it with the
command that reproduces it (`python -m mnist_core pretrain --arch NAME`)."""

from __future__ import annotations

from pathlib import Path

from . import checkpoints, inference, pen, recipes
from .config import TrainConfig
from .models import ARCHS
from .training import train


def pretrain_one(arch: str, data_dir, out_dir: Path, on_event=None) -> tuple[TrainConfig, object, Path | None]:
    """Train one shipped model with its recipe (pretrain_config) and save it, with its score on the
    real-handwriting benchmark (UNIPEN's benchmark writers) when the model is meant for drawn input."""
    cfg = recipes.pretrain(arch)
    result = train(cfg, data_root=data_dir, on_event=on_event)
    path = None
    if result.usable:
        command = f"python -m mnist_core pretrain --arch {arch}"
        extra = {"command": command, "seed": recipes.PRETRAIN_SEED, "shipped": True, "versions": checkpoints.versions()}
        if ARCHS[arch].drawn_input and pen.is_available(data_dir):
            predictor = inference.Predictor(result.model, {"arch": arch}, arch)
            extra["real_handwriting"] = pen.benchmark(predictor, data_dir)
        path = result.save(out_dir / f"{arch}{checkpoints.SUFFIX}", name=arch, extra=extra)
    return cfg, result, path
