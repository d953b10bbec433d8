"""What the Compare page measures per model, once per checkpoint: its summary (one table row), and its
accuracy on a collection of the user's drawings.

A *summary* holds the checkpoint's metadata and history, its parameter count, its inference latency, its
accuracy on real handwriting (UNIPEN's benchmark writers drawn on the canvas) and on MNIST's test digits
re-drawn as canvas drawings (mnist_core.drawn). It is kept as JSON in the measurements' disk cache
(mnist_core.cache), keyed by the checkpoint's content, so reading a cached summary never unpickles
anything. A shipped model's figures are also kept beside its checkpoint (keep_shipped writes
models/NAME.measurements.json), so that a fresh clone measures none of them: only their latency, which is
this machine's, is timed there (a fraction of a second each). The test-set evaluation (confusion matrix,
mistakes) is mnist_core.evaluation's.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import cache, checkpoints, data, detection, drawings, drawn, finetuning, inference, pen
from .models import ARCHS, param_count

DRAWN_N = 300  # drawn digits per model: small and fixed (seed 0), the same sample for every model
DRAWN_SEED = 0
LATENCY_REPEATS = 30
TIMING = "its latency on this machine's CPU"  # what measuring a model whose figures are kept takes
SETTINGS_KEYS = (
    "optimizer",
    "lr",
    "schedule",
    "batch_size",
    "epochs",
    "max_steps",
    "train_limit",
    "augment",
    "pen_data",
    "styles",
    "dataset",
    "init_from",
    "collection",
    "label_smoothing",
    "weight_decay",
)


def number(v) -> float | None:
    """`v` as a finite float, or None (a checkpoint's metrics may hold anything)."""
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def count(v) -> int | None:
    """`v` as a plausible positive count (of CPU cores), or None."""
    return v if isinstance(v, int) and not isinstance(v, bool) and 0 < v < 1 << 20 else None


# --- one model's summary ------------------------------------------------------------------------


def _redrawn_accuracy(predictor: inference.Predictor, dataset: str, data_root) -> tuple[float | None, str]:
    """Accuracy on DRAWN_N MNIST test digits re-drawn as canvas drawings (drawn.drawn_accuracy: the
    rendering, the slow part, is done once per process and shared by every model)."""
    if dataset != "mnist":
        return None, "drawn digits are MNIST digits; this model was trained on another dataset"
    if not data.is_available("mnist", data_root):
        return None, "needs the MNIST test set, which is not available"
    try:
        return drawn.drawn_accuracy(predictor, n=DRAWN_N, seed=DRAWN_SEED, data_root=data_root), ""
    except (data.DataUnavailable, OSError) as exc:
        return None, str(exc).splitlines()[0]


def _real_handwriting(meta: dict, shipped: bool, read: dict) -> tuple[float | None, str]:
    """Accuracy on UNIPEN's benchmark writers drawn on the canvas: a shipped model's stored figure (written
    by pretrain), else the one measured with its other figures (`read`: detection.figures')."""
    stored = (meta.get("extra") or {}).get("real_handwriting")
    if shipped and isinstance(stored, dict) and isinstance(stored.get("accuracy"), float):
        return stored["accuracy"], ""
    return read.get("accuracy"), read["detection_note"]


def _epochs(meta: dict) -> float | None:
    done = meta["metrics"].get("epochs_done")
    if done is None and meta["history"].get("epochs"):
        done = meta["history"]["epochs"][-1].get("epoch")
    return done if done is not None else meta["config"].get("epochs")


def _settings(config: dict) -> dict:
    """The training settings a table shows, kept only where plain and short (a file may hold anything)."""
    out = {}
    for k in SETTINGS_KEYS:
        v = config.get(k)
        if isinstance(v, bool) or (isinstance(v, str) and len(v) <= 200) or number(v) is not None:
            out[k] = v
    return out


def _shipped(path: Path) -> bool:
    return path.resolve().parent == inference.shipped_dir().resolve()


def _measure(path: Path, data_root, shipped: bool | None = None) -> dict:
    """Load the checkpoint (CheckpointError if it is not a usable one) and measure it."""
    shipped = _shipped(path) if shipped is None else shipped
    model, meta = checkpoints.load(path)
    predictor = inference.Predictor(model, meta, meta.get("name") or path.stem, path)
    arch = ARCHS[meta["arch"]]
    metrics = meta["metrics"]
    dataset = meta.get("dataset") or meta["config"].get("dataset") or "mnist"
    redrawn, redrawn_note = _redrawn_accuracy(predictor, dataset, data_root)
    read = detection.figures(predictor, dataset, data_root)  # digits kept, non-digits refused, calibration
    real, real_note = _real_handwriting(meta, shipped, read)
    read.pop("accuracy", None)
    return {
        "arch": meta["arch"],
        "params": param_count(model),
        "epochs": _epochs(meta),
        "train_seconds": metrics.get("train_seconds"),
        "device": metrics.get("device") or meta["config"].get("device"),
        # the highest 1-minute load seen through the run; None: not recorded (checkpoints made before it was)
        "load_1min": number(metrics.get("load_1min_max")),
        "cpu_count": count(metrics.get("cpu_count")),
        "config": _settings(meta["config"]),
        "test_accuracy": metrics.get("test_accuracy"),  # None for an upload not measured yet
        "claimed_accuracy": metrics.get("claimed_test_accuracy"),  # what an upload's file said (never used)
        "accuracy_source": metrics.get("accuracy_source") or "training",  # training, measured or claimed
        "reported_accuracy": arch.reported_accuracy,
        "reported": arch.reported,
        "drawn_accuracy": real,  # real handwriting: UNIPEN's benchmark writers drawn on the canvas
        "drawn_note": real_note,
        "redrawn_accuracy": redrawn,  # MNIST's own test digits re-rendered as drawings
        "redrawn_note": redrawn_note,
        "latency_ms": predictor.latency_ms(LATENCY_REPEATS),
        **read,
        "dataset": dataset,
        "created": meta.get("created"),
        "stored_name": meta.get("name"),
        "history": {"steps": meta["history"].get("steps") or [], "epochs": meta["history"].get("epochs") or []},
    }


def checkpoint_key(path: str | os.PathLike) -> str:
    """The cache key of a checkpoint's content; CheckpointError naming the file if it cannot be read or is
    too large to be one (refused before its bytes are hashed)."""
    path = Path(path)
    try:
        if path.stat().st_size > checkpoints.MAX_BYTES:
            checkpoints.read(path)  # refuses it, naming the file and the limit
        return cache.content_key(path)
    except OSError as exc:
        raise checkpoints.CheckpointError(f"{path.name}: cannot be read ({exc.strerror or exc})") from exc


def _drawn_now_possible(row: dict, data_root) -> bool:
    """A cached summary without a re-drawn accuracy that could be completed now (the test set has come)."""
    return (
        row.get("redrawn_accuracy") is None and row.get("dataset") == "mnist" and data.is_available("mnist", data_root)
    )


def _cached_summary(entry: inference.ModelEntry, cdir, data_root) -> tuple[dict | None, Path]:
    path = Path(entry.path)
    # A shipped model's real-handwriting figure is the one stored in it, a run's is measured: the same bytes
    # in both places are two entries.
    target = cache.entry("summary", "json", checkpoint_key(path), _shipped(path), cdir=cdir)
    try:
        row = json.loads(cache.read(target) or b"")
    except ValueError:
        return None, target
    if not isinstance(row, dict) or _drawn_now_possible(row, data_root):
        return None, target
    return row, target


# --- a shipped model's measurements, kept beside its checkpoint ------------------------------------------


def _kept_summary(path: Path, data_root, shipped: bool | None = None) -> dict | None:
    """A shipped model's row as kept beside its checkpoint (cache.read_kept: less its latency), when complete
    with the data at hand; else None."""
    if not (_shipped(path) if shipped is None else shipped):
        return None
    row = cache.read_kept(path, checkpoint_key(path))
    return None if row is None or _drawn_now_possible(row, data_root) else row


def keep_measurements(path: str | os.PathLike, data_root=None) -> Path:
    """Measure a shipped checkpoint and keep its figures beside it (cache.write_kept): Compare then shows it
    on a fresh clone without measuring it. Its latency is not kept (it is the CPU's that shows it).
    DataUnavailable without MNIST's test set or UNIPEN's benchmark writers (kept figures are whole),
    CheckpointError for a bad file, OSError if the file cannot be written. Returns the file written."""
    path = Path(path)
    if not (data.is_available("mnist", data_root) and pen.is_available(data_root)):
        raise data.DataUnavailable(
            f"keeping {path.name}'s measurements needs MNIST's test set and UNIPEN's pen-drawn digits in the "
            "data folder (--data-dir or MNIST_DATA_DIR)"
        )
    row = _measure(path, data_root, shipped=True)
    del row["latency_ms"]
    return cache.write_kept(path, checkpoint_key(path), row)


def keep_shipped(
    models_dir=None, data_root=None, on_progress: Callable[[int, int, str], None] | None = None
) -> list[Path]:
    """keep_measurements for every shipped checkpoint whose kept figures are missing or not its own (a new
    checkpoint, a new CACHE_VERSION); on_progress(done, total, name) before each. Returns the files written.
    For the command line, after `pretrain` has saved the shipped models."""
    todo = [
        e
        for e in inference.model_entries(models_dir)
        if e.source == "shipped"
        and (_kept_summary(Path(e.path), data_root, True) or {}).get("redrawn_accuracy") is None
    ]
    written = []
    for i, e in enumerate(todo):
        if on_progress:
            on_progress(i, len(todo), e.name)
        written.append(keep_measurements(e.path, data_root))
    return written


# --- the table's rows: what is cached or kept, then what must be measured --------------------------------


def _cached_latency(path: Path, cdir) -> tuple[float | None, Path]:
    target = cache.entry("latency", "json", checkpoint_key(path), cdir=cdir)
    try:
        return number(json.loads(cache.read(target) or b"null")), target
    except ValueError:
        return None, target


def _lookup(entry: inference.ModelEntry, cdir, data_root) -> tuple[dict | None, str, Callable[[], dict]]:
    """The entry's row when nothing of it needs measuring (kept beside a shipped checkpoint, or cached), else
    None; what measuring it takes, in words; and how to measure what is missing (a whole row, or a kept
    row's latency) and cache it. CheckpointError for a file too large or unreadable."""
    path = Path(entry.path)
    kept = _kept_summary(path, data_root)
    if kept is not None:
        latency, target = _cached_latency(path, cdir)

        def time_it() -> dict:
            model, meta = checkpoints.load(path)
            measured = inference.Predictor(model, meta, entry.name, path).latency_ms(LATENCY_REPEATS)
            cache.store(target, json.dumps(measured).encode())
            return {**kept, "latency_ms": measured}

        return ({**kept, "latency_ms": latency} if latency is not None else None), TIMING, time_it
    row, target = _cached_summary(entry, cdir, data_root)

    def measure_it() -> dict:
        measured = _measure(path, data_root)
        cache.store(target, json.dumps(measured).encode())
        return measured

    what = f"real handwriting, {'MNIST re-drawn, ' if data.is_available('mnist', data_root) else ''}latency"
    return row, what, measure_it


def _named(entry: inference.ModelEntry, row: dict) -> dict:
    return {"name": entry.name, "source": entry.source, "path": str(entry.path), **row}


def summary(
    entry: inference.ModelEntry, cdir=None, data_root=None, on_miss: Callable[[str], None] | None = None
) -> dict:
    """One table row for a model (kept or cached). Raises checkpoints.CheckpointError for a bad file.
    `on_miss(what)` is called before anything of it is measured (`what`: in words)."""
    row, what, complete = _lookup(entry, cdir, data_root)
    if row is None:
        if on_miss:
            on_miss(what)
        row = complete()
    return _named(entry, row)


def summaries(
    entries: Iterable[inference.ModelEntry] | None = None,
    cdir=None,
    data_root=None,
    on_progress: Callable[[int, int, str, str], None] | None = None,
) -> tuple[list[dict], list[str]]:
    """Rows for every model, and one message (naming the file) per checkpoint that was refused.

    The rows kept or cached are read first; then the models left are measured, on_progress(k, n, name,
    what) before the k-th of those n, so a page shows progress only while something is measured."""
    entries = list(inference.model_entries() if entries is None else entries)
    rows: dict[int, dict] = {}
    problems: dict[int, str] = {}
    todo = []
    for i, e in enumerate(entries):
        try:
            row, what, complete = _lookup(e, cdir, data_root)
        except checkpoints.CheckpointError as exc:
            problems[i] = str(exc)
            continue
        if row is None:
            todo.append((i, e, what, complete))
        else:
            rows[i] = _named(e, row)
    for k, (i, e, what, complete) in enumerate(todo, 1):
        if on_progress:
            on_progress(k, len(todo), e.name, what)
        try:
            rows[i] = _named(e, complete())
        except checkpoints.CheckpointError as exc:
            problems[i] = str(exc)
    return [rows[i] for i in sorted(rows)], [problems[i] for i in sorted(problems)]


# --- accuracy on a collection of the user's drawings ------------------------------------------------

_ON_DRAWINGS: dict[tuple, float] = {}  # (checkpoint content, held-out content) -> accuracy
_ON_DRAWINGS_LOCK = threading.Lock()
ON_DRAWINGS_KEEP = 512
ON_DRAWINGS_MAX = 1_000  # held-out drawings measured per collection: the newest, at most this many


def drawing_collections(runs=None) -> tuple[dict[str, int], str | None]:
    """The user's collections (name -> drawings) and a problem in words; never creates the database."""
    if not (inference.runs_dir(runs) / drawings.DB_NAME).is_file():
        return {}, None
    try:
        return drawings.DrawingStore(runs).collections(), None
    except drawings.StoreError as exc:
        return {}, str(exc)


def _on_drawings(name: str, path: Path, xs: np.ndarray, labels: np.ndarray, content: str) -> float:
    """One model's accuracy on held-out drawings, remembered in this process per checkpoint content."""
    key = (cache.content_key(path), content)
    with _ON_DRAWINGS_LOCK:
        acc = _ON_DRAWINGS.get(key)
    if acc is None:
        model, meta = checkpoints.load(path)
        predictor = inference.Predictor(model, meta, name, path)
        acc = float((predictor.proba_batch(xs.astype(np.float32) / 255.0).argmax(1) == labels).mean())
        with _ON_DRAWINGS_LOCK:
            while len(_ON_DRAWINGS) >= ON_DRAWINGS_KEEP:
                _ON_DRAWINGS.pop(next(iter(_ON_DRAWINGS)))
            _ON_DRAWINGS[key] = acc
    return acc


class CollectionScores(NamedTuple):
    """Each model's accuracy on a collection's held-out drawings, and what it was measured on."""

    scores: dict[str, float | None]  # model name -> fraction right, or None
    notes: dict[str, str]  # model name -> why None
    measured: int  # held-out drawings measured: the newest ON_DRAWINGS_MAX of them at most
    held_out: int  # held-out drawings in the collection


def collection_accuracies(rows: list[dict], collection: str, runs=None) -> CollectionScores:
    """Each row's accuracy on the held-out part of a collection (every fifth drawing of each digit, the part
    fine-tuning never trains on), through its Predictor.proba_batch. A large collection is measured on its
    newest ON_DRAWINGS_MAX held-out drawings (`measured` < `held_out` says so), so the cost is bounded
    however large it is. Remembered per checkpoint content and measured content."""
    try:
        store = drawings.DrawingStore(runs)
        held, total = store.held_out(collection, limit=ON_DRAWINGS_MAX), store.held_out_count(collection)
    except drawings.StoreError as exc:
        return CollectionScores(dict.fromkeys(r["name"] for r in rows), {r["name"]: str(exc) for r in rows}, 0, 0)
    xs, labels = finetuning.arrays(held)
    if not len(xs):
        why = (
            f"no held-out drawings in '{collection}' yet: every {drawings.HOLDOUT_EVERY}th drawing of each "
            f"digit is held out, so a digit needs {drawings.HOLDOUT_EVERY} drawings"
        )
        return CollectionScores(dict.fromkeys(r["name"] for r in rows), {r["name"]: why for r in rows}, 0, total)
    content = hashlib.sha1(labels.tobytes() + xs.tobytes()).hexdigest()
    scores, notes = {}, {}
    for r in rows:
        name = r["name"]
        if (r.get("dataset") or "mnist") != "mnist":
            scores[name], notes[name] = None, "drawn digits are digits; this model was trained on another dataset"
            continue
        try:
            scores[name] = _on_drawings(name, Path(r["path"]), xs, labels, content)
        except (checkpoints.CheckpointError, OSError) as exc:
            scores[name], notes[name] = None, f"could not be measured ({str(exc).splitlines()[0][:200]})"
    return CollectionScores(scores, notes, len(xs), total)
