"""Save and load a trained model with everything needed to rebuild and describe it.

A checkpoint is one torch file holding a dict of plain data (strings, numbers, lists, dicts)
and the weights. It is written atomically (temp file + rename) and read with
`torch.load(weights_only=True)`, which refuses any pickled object that is not plain data, so
loading never runs code.

Nothing in a file is trusted, wherever it comes from (an upload, the runs folder, the command
line). Before anything is inflated, the zip's directory is read: each entry's and the total
inflated size are bounded (a 1 MB file that inflates to 1 GiB is refused without allocating it).
After loading, the metadata is checked against the shapes this code writes (accuracy a finite
number in [0, 1], histories of numbers, bounded strings and lists) and the weights must be
finite. Every refusal is a CheckpointError whose message starts with the file's name.
"""

from __future__ import annotations

import math
import os
import pickle
import platform
import re
import unicodedata
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn

from . import data, peek
from .events import SAVED
from .files import atomic_path
from .models import ARCHS, build

FORMAT = peek.FORMAT
VERSION = 1
SUFFIX = ".pt"
MAX_BYTES = peek.MAX_BYTES  # a file on disk; the largest model here is under 3 MB
MAX_ENTRY = 16 * 2**20  # any one entry of the zip, inflated (the largest tensor here is 1.7 MB)
MAX_INFLATED = 48 * 2**20  # all entries together, inflated
MAX_PICKLE = peek.MAX_PICKLE  # the metadata's pickle, inflated (a long run's history is ~1 MB)
MAX_ENTRIES = 512  # tensors and bookkeeping files in the zip (the largest model has 26)
MAX_TEXT = 2000  # characters in any string of the metadata
MAX_ITEMS = 1000  # keys of a config / metrics / extra dict, items of a list in them
MAX_POINTS = 200_000  # logged steps in a history
MAX_EPOCHS = 10_000  # evaluated epochs in a history
RUN_STATUSES = tuple(s.value for s in SAVED)  # what a saved run's metrics may say: finished, stopped


class CheckpointError(ValueError):
    """A file that is not a usable MNIST Lab checkpoint; the message names the file."""


def versions() -> dict:
    import torchvision

    return {
        "torch": str(torch.__version__),
        "torchvision": str(torchvision.__version__),
        "python": platform.python_version(),
    }


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
        "arch_args": dict(getattr(model, "arch_args", {})),  # models.build's: the width of a cnn
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
    _write(payload, path)
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
        raise CheckpointError(
            f"{where}: {size / 2**20:.0f} MB is too large for a checkpoint (the limit is {MAX_BYTES / 2**20:.0f} MB)"
        )
    _check_zip(path, where)
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
    if not isinstance(arch, str) or arch not in ARCHS:
        raise CheckpointError(f"{where}: unknown architecture {_shown(arch)}")
    if not isinstance(payload.get("state_dict"), dict):
        raise CheckpointError(f"{where}: holds no weights")
    for key, default in (("config", {}), ("history", {}), ("metrics", {}), ("extra", {}), ("name", path.stem)):
        payload.setdefault(key, default)
    try:
        _check_meta(payload)
        _check_weights(payload["state_dict"])
    except _Bad as exc:
        raise CheckpointError(f"{where}: refused: {exc}") from None
    return payload


# --- what is checked before a file is trusted ----------------------------------------------------


class _Bad(ValueError):
    """One reason a checkpoint is refused (the caller adds the file's name)."""


def _shown(value, n: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= n else text[: n - 3] + "..."


def _check_zip(path: Path, where: str) -> None:
    """Bound what torch.load would inflate, from the zip's directory alone (nothing is inflated).

    torch's reader allocates each record at the size the directory states and fails if the data
    does not fit, so bounding the stated sizes bounds the memory that loading can take.
    """
    try:
        with zipfile.ZipFile(path) as z:
            entries = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise CheckpointError(
            f"{where}: not a readable checkpoint (not a zip-format torch file: {exc}; files "
            "in torch's legacy format cannot be checked before they are unpickled, so they "
            "are refused: re-save them with a recent PyTorch)"
        ) from None
    if len(entries) > MAX_ENTRIES:
        raise CheckpointError(f"{where}: refused: {len(entries):,} entries in its zip (the limit is {MAX_ENTRIES})")
    total = 0
    for e in entries:
        if e.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise CheckpointError(f"{where}: refused: entry {_shown(e.filename)} uses an unsupported compression")
        limit = MAX_PICKLE if e.filename.endswith(".pkl") else MAX_ENTRY
        if e.file_size > limit:
            raise CheckpointError(
                f"{where}: refused: entry {_shown(e.filename)} would inflate to "
                f"{e.file_size / 2**20:,.0f} MB (the limit is {limit / 2**20:.0f} MB; no model "
                "here needs that much)"
            )
        total += e.file_size
    if total > MAX_INFLATED:
        raise CheckpointError(
            f"{where}: refused: its contents would inflate to {total / 2**20:,.0f} MB (the limit "
            f"is {MAX_INFLATED / 2**20:.0f} MB)"
        )


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _plain(x, what: str, depth: int = 0) -> None:
    """Plain, bounded data: None, bools, finite numbers, short strings, small lists and dicts."""
    if x is None or isinstance(x, bool) or _number(x):
        return
    if isinstance(x, float):
        raise _Bad(f"{what} is {x}, not a finite number")
    if isinstance(x, str):
        if len(x) > MAX_TEXT:
            raise _Bad(f"{what} is a string of {len(x):,} characters (the limit is {MAX_TEXT})")
        return
    if depth >= 4:
        raise _Bad(f"{what} is nested too deeply")
    if isinstance(x, (list, tuple)):
        if len(x) > MAX_ITEMS:
            raise _Bad(f"{what} holds {len(x):,} items (the limit is {MAX_ITEMS})")
        for i, v in enumerate(x):
            _plain(v, f"{what}[{i}]", depth + 1)
        return
    if isinstance(x, dict):
        if len(x) > MAX_ITEMS:
            raise _Bad(f"{what} holds {len(x):,} keys (the limit is {MAX_ITEMS})")
        for k, v in x.items():
            if not isinstance(k, str) or len(k) > 100:
                raise _Bad(f"{what} has a key {_shown(k)} that is not a short string")
            _plain(v, f"{what}[{k!r}]", depth + 1)
        return
    raise _Bad(f"{what} holds a {type(x).__name__}, not plain data")


def _dict(payload: dict, key: str) -> dict:
    value = payload.get(key)
    if not isinstance(value, dict):
        raise _Bad(f"{key} is a {type(value).__name__}, not a dict")
    _plain(value, key)
    return value


def _optional_number(d: dict, key: str, what: str, low: float = 0.0, high: float = math.inf) -> None:
    v = d.get(key)
    if v is not None and not (_number(v) and low <= v <= high):
        raise _Bad(f"{what} {key} is {_shown(v)}, not a number in [{low:g}, {high:g}]")


def _check_history(history) -> None:
    if not isinstance(history, dict):
        raise _Bad(f"history is a {type(history).__name__}, not a dict")
    steps, epochs = history.get("steps", []), history.get("epochs", [])
    if not isinstance(steps, list) or len(steps) > MAX_POINTS:
        raise _Bad(f"history steps must be a list of at most {MAX_POINTS:,} points")
    for i, s in enumerate(steps):
        if not (isinstance(s, (list, tuple)) and len(s) == 4 and all(_number(v) for v in s)):
            raise _Bad(f"history step {i} is {_shown(s)}, not [step, epoch, loss, seconds] as numbers")
    if not isinstance(epochs, list) or len(epochs) > MAX_EPOCHS:
        raise _Bad(f"history epochs must be a list of at most {MAX_EPOCHS:,} records")
    for i, r in enumerate(epochs):
        if not isinstance(r, dict) or len(r) > 50:
            raise _Bad(f"history epoch {i} is {_shown(r)}, not a record of numbers")
        for k in ("epoch", "train_accuracy", "test_accuracy"):
            if k not in r:
                raise _Bad(f"history epoch {i} has no {k}")
        for k, v in r.items():
            if not isinstance(k, str) or not (v is None or _number(v)):
                raise _Bad(f"history epoch {i} {_shown(k)} is {_shown(v)}, not a finite number")
            if k.endswith("accuracy") and v is not None and not 0 <= v <= 1:
                raise _Bad(f"history epoch {i} {k} is {v}, not in [0, 1]")
    for k, v in history.items():  # other curves (per-step accuracy, ...): as long as the steps, plain items
        if k in ("steps", "epochs"):
            continue
        if isinstance(v, list):
            if len(v) > MAX_POINTS:
                raise _Bad(f"history {k} holds {len(v):,} items (the limit is {MAX_POINTS:,})")
            for i, item in enumerate(v):
                _plain(item, f"history[{k!r}][{i}]", 2)
        else:
            _plain(v, f"history[{k!r}]")


def _check_meta(payload: dict) -> None:
    """The metadata in the shapes this code writes; _Bad naming the first field that is not."""
    name = payload.get("name")
    if not isinstance(name, str) or len(name) > MAX_TEXT:
        raise _Bad(f"name is {_shown(name)}, not a string of at most {MAX_TEXT} characters")
    if not isinstance(payload.get("version"), int) or isinstance(payload.get("version"), bool):
        raise _Bad(f"version is {_shown(payload.get('version'))}, not a number")
    config, metrics = _dict(payload, "config"), _dict(payload, "metrics")
    for key in ("arch_args", "extra", "versions", "normalization"):
        if key in payload:
            _dict(payload, key)
    dataset = payload.get("dataset", config.get("dataset", "mnist"))
    if not isinstance(dataset, str) or dataset not in data.DATASETS:
        raise _Bad(f"dataset {_shown(dataset)} is not one of {', '.join(data.DATASETS)}")
    norm = payload.get("normalization") or {}
    for key in ("mean", "std"):
        if key in norm and not (_number(norm[key]) and (key == "mean" or norm[key] > 0)):
            raise _Bad(f"normalization {key} is {_shown(norm[key])}")
    created = payload.get("created")
    if created is not None and (not isinstance(created, str) or len(created) > 64):
        raise _Bad(f"created is {_shown(created)}, not a date")
    reading = (payload.get("extra") or {}).get("reading")  # inference.Predictor.reading's fitted numbers
    if reading is not None:
        if not isinstance(reading, dict):
            raise _Bad(f"extra reading is {_shown(reading)}, not a dict")
        _optional_number(reading, "temperature", "extra reading", 0.05, 20.0)
        _optional_number(reading, "threshold", "extra reading", 0.0, 1.0)
    _optional_number(metrics, "test_accuracy", "metrics", 0.0, 1.0)
    _optional_number(metrics, "claimed_test_accuracy", "metrics", 0.0, 1.0)
    _optional_number(metrics, "train_seconds", "metrics")
    _optional_number(metrics, "epochs_done", "metrics")
    if metrics.get("status") is not None and metrics["status"] not in RUN_STATUSES:
        raise _Bad(f"metrics status is {_shown(metrics['status'])}, not one of {', '.join(RUN_STATUSES)}")
    for key in ("device", "accuracy_source"):
        if metrics.get(key) is not None and not isinstance(metrics[key], str):
            raise _Bad(f"metrics {key} is {_shown(metrics[key])}, not a string")
    _optional_number(config, "epochs", "config", 0, 10**6)
    _check_history(payload.get("history"))


def _check_weights(state: dict) -> None:
    if len(state) > MAX_ENTRIES:
        raise _Bad(f"{len(state):,} tensors in its weights (the limit is {MAX_ENTRIES})")
    for key, t in state.items():
        if not isinstance(key, str) or not isinstance(t, torch.Tensor):
            raise _Bad(f"its weights hold {_shown(key)}: {type(t).__name__}, not a named tensor")
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise _Bad(
                f"weight {key!r} holds {bad:,} non-finite values (NaN or infinity): such a model "
                "cannot predict anything"
            )


def update_metrics(path: str | os.PathLike, **changes) -> dict:
    """Rewrite the checkpoint at `path` atomically with some of its metrics changed (None removes
    one); the weights and everything else stay as they were. Returns the new metrics."""
    path = Path(path)
    payload = read(path)
    metrics = {**payload["metrics"], **changes}
    payload["metrics"] = {k: v for k, v in metrics.items() if v is not None or k == "test_accuracy"}
    _write(payload, path)
    return payload["metrics"]


def load(path: str | os.PathLike) -> tuple[nn.Module, dict]:
    """Rebuild the model (eval mode, CPU) and return it with the checkpoint's metadata."""
    payload = read(path)
    try:
        model = build(payload["arch"], payload.get("arch_args") or {})
    except ValueError as exc:
        raise CheckpointError(f"{Path(path).name}: {exc}") from exc
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
        raise ValueError(f"run name {name!r} does not map inside its folder")
    return path


def _write(payload: dict, path: Path) -> None:
    """torch.save to a temporary file beside `path`, then one rename: readers see the old file or the new."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
