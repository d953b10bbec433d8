"""Save and load a trained model with everything needed to rebuild and describe it.

A checkpoint is one torch file holding a dict of plain data (strings, numbers, lists, dicts)
and the weights. It is written atomically (temp file + rename) and read with
`torch.load(weights_only=True)`, which refuses any pickled object that is not plain data, so
loading never runs code.
"""

from __future__ import annotations

import os
import pickle
import platform
import re
import unicodedata
import uuid
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn

from . import data
from .models import ARCHS, build

FORMAT = "mnist-lab-checkpoint"
VERSION = 1
SUFFIX = ".pt"
MAX_BYTES = 100 * 2**20  # far above any model here (the largest is under 5 MB)


class CheckpointError(ValueError):
    """A file that is not a usable MNIST Lab checkpoint; the message names the file."""


def versions() -> dict:
    import torchvision

    return {"torch": str(torch.__version__), "torchvision": str(torchvision.__version__),
            "python": platform.python_version()}


def save(
    path: str | os.PathLike,
    model: nn.Module,
    arch: str,
    config: dict,
    history: dict,
    metrics: dict,
    name: str | None = None,
    extra: dict | None = None,
) -> Path:
    """Write the checkpoint atomically: a crash or a full disk leaves any previous file intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "name": name or path.stem,
        "arch": arch,
        "arch_args": {},
        "config": dict(config),
        "dataset": config.get("dataset", "mnist"),
        "normalization": {"mean": data.MEAN, "std": data.STD},
        "history": history,
        "metrics": dict(metrics),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
        "extra": dict(extra or {}),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    }
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read(path: str | os.PathLike) -> dict:
    """The checkpoint's dict (weights included), validated; CheckpointError if it is not one."""
    path = Path(path)
    where = f"{path.name}"
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CheckpointError(f"{where}: cannot be read ({exc.strerror or exc})") from exc
    if size > MAX_BYTES:
        raise CheckpointError(f"{where}: {size / 2**20:.0f} MB is too large for a checkpoint")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = [line.strip() for line in str(exc).splitlines() if "Unsupported" in line or "GLOBAL" in line]
        if not any("GLOBAL" in line for line in detail):  # a bad opcode in junk bytes, not a refused object
            why = (detail or ["UnpicklingError"])[0][:200]
            raise CheckpointError(f"{where}: not a readable checkpoint ({why})") from exc
        raise CheckpointError(
            f"{where}: refused; it holds objects that are not plain data (loading it could run "
            f"code), so it was not loaded ({(detail or [type(exc).__name__])[0][:160]})"
        ) from exc
    except Exception as exc:  # truncated, random bytes, not a torch file at all
        raise CheckpointError(f"{where}: not a readable checkpoint ({type(exc).__name__}: {str(exc)[:200]})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{where}: a torch file, but not an MNIST Lab checkpoint")
    arch = payload.get("arch")
    if arch not in ARCHS:
        raise CheckpointError(f"{where}: unknown architecture {arch!r}")
    if not isinstance(payload.get("state_dict"), dict):
        raise CheckpointError(f"{where}: holds no weights")
    for key, default in (("config", {}), ("history", {}), ("metrics", {}), ("extra", {}), ("name", path.stem)):
        if not isinstance(payload.get(key), type(default)):
            payload[key] = default
    return payload


def load(path: str | os.PathLike) -> tuple[nn.Module, dict]:
    """Rebuild the model (eval mode, CPU) and return it with the checkpoint's metadata."""
    payload = read(path)
    model = build(payload["arch"])
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except Exception as exc:
        raise CheckpointError(
            f"{Path(path).name}: its weights do not fit the {payload['arch']!r} architecture "
            f"({str(exc).splitlines()[0][:200]})"
        ) from exc
    meta = {k: v for k, v in payload.items() if k != "state_dict"}
    return model.eval(), meta


def safe_name(name: str, max_len: int = 64) -> str:
    """A run name -> a safe file stem: ASCII letters, digits, '-', '_' and '.', never '..'."""
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")
    text = re.sub(r"\.{2,}", ".", text)[:max_len].strip("._-")
    return text or "run"


def path_in(directory: str | os.PathLike, name: str) -> Path:
    """The checkpoint path for a run name inside `directory`, checked to stay inside it."""
    directory = Path(directory).resolve()
    path = (directory / (safe_name(name) + SUFFIX)).resolve()
    if path.parent != directory:
        raise ValueError(f"run name {name!r} does not map inside {directory}")
    return path
