"""Everything the Compare page shows, computed once per checkpoint and kept on disk.

Two things are measured per model and cached in a writable directory (never next to the
shipped models, whose folder may be read-only):

- a *summary* (JSON): the checkpoint's metadata and history, its parameter count, its inference
  latency and its drawn-digit accuracy;
- an *evaluation* (npz): confusion matrix, per-class accuracy and the most confident mistakes
  (with their 28x28 images, so the gallery needs no dataset once cached).

A cache file is keyed by the checkpoint's resolved path, mtime and size (and, for an evaluation,
by the test files it was computed on), so a retrained or replaced checkpoint is measured again
and its old cache files are removed. Reading a cached summary never unpickles anything: JSON, and
npz with allow_pickle=False.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import math
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import checkpoints, data, drawings, inference, jobs, pen, settings
from .evaluation import evaluate
from .files import write_atomic
from .models import ARCHS, param_count
from .preprocess import preprocess

CACHE_VERSION = 4  # bump when what is stored changes: old files are then ignored (2: real handwriting,
# 3: the machine's load when training ended, and the run's settings; 4: preprocess reads a fat
# one-colour drawing on a transparent canvas, which changed the re-drawn figure)
DRAWN_N = 300  # drawn digits per model: small and fixed (seed 0), the same sample for every model
DRAWN_SEED = 0
MISTAKES_KEPT = 120  # most confident mistakes stored per evaluation (the gallery shows fewer)
LATENCY_REPEATS = 30


# --- cache plumbing -------------------------------------------------------------------------


def cache_dir(explicit: str | os.PathLike | None = None) -> Path:
    """`explicit`, else settings.cache_dir("compare")."""
    return Path(explicit) if explicit else settings.cache_dir("compare")


def _digest(*parts) -> str:
    return hashlib.sha1("\0".join(map(str, parts)).encode()).hexdigest()[:16]


def checkpoint_key(path: str | os.PathLike) -> str:
    """Identity of one version of a checkpoint file: resolved path, mtime (ns) and size."""
    p = Path(path).resolve()
    st = p.stat()
    return _digest(CACHE_VERSION, p, st.st_mtime_ns, st.st_size)


def _test_files_key(dataset: str, data_root) -> str:
    raw = data.raw_dir(dataset, data_root).resolve()
    parts = [raw]
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        st = (raw / name).stat()
        parts += [name, st.st_mtime_ns, st.st_size]
    return _digest(*parts)


def _cache_file(cdir: Path, path: Path, kind: str, key: str, ext: str) -> Path:
    return cdir / f"{_digest(Path(path).resolve())}-{kind}-{key}.{ext}"


def _store(target: Path, payload: bytes) -> None:
    """Atomic write, then remove this checkpoint's older files of the same kind.

    A cache that cannot be written (read-only disk) only costs recomputation, so OSError is ignored.
    """
    try:
        write_atomic(target, payload)
        prefix = target.name.rsplit("-", 1)[0] + "-"
        for old in target.parent.glob(prefix + "*"):
            if old != target:
                old.unlink(missing_ok=True)
    except OSError:
        pass


# --- summaries ------------------------------------------------------------------------------


def _drawn_module():
    """mnist_core.drawn when it is there (the drawn-digit generator); None otherwise."""
    try:
        return importlib.import_module(f"{__package__}.drawn")
    except ImportError:
        return None


@lru_cache(maxsize=4)
def _drawn_inputs(test_key: str, data_root: str | None, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The fixed drawn-digit sample, preprocessed once per process for every model:
    (N, 28, 28) float32 inputs, (N,) labels, and how many drawings came out blank.

    The same computation as drawn.drawn_accuracy(method="preprocess"), with the rendering (the
    slow part) shared by all models; tests check that both give the same figure.
    """
    mod = _drawn_module()
    xs, labels, blank = [], [], 0
    for image, label in mod.drawn_samples(n, seed, data_root):
        x = preprocess(image)
        if x is None:
            blank += 1
            continue
        xs.append(x)
        labels.append(label)
    return np.stack(xs) if xs else np.zeros((0, 28, 28), np.float32), np.array(labels, np.int64), blank


def _drawn_accuracy(predictor: inference.Predictor, dataset: str, data_root) -> tuple[float | None, str]:
    if dataset != "mnist":
        return None, "drawn digits are MNIST digits; this model was trained on another dataset"
    mod = _drawn_module()
    if mod is None or not hasattr(mod, "drawn_samples"):
        return None, "the drawn-digit generator is not available"
    if not data.is_available("mnist", data_root):
        return None, "needs the MNIST test set, which is not available"
    try:
        xs, labels, blank = _drawn_inputs(_test_files_key("mnist", data_root), data_root and str(data_root),
                                           DRAWN_N, DRAWN_SEED)
    except (data.DataUnavailable, OSError) as exc:
        return None, str(exc).splitlines()[0]
    if not len(xs):
        return 0.0, ""
    correct = int((predictor.proba_batch(xs).argmax(1) == labels).sum())
    return correct / (len(xs) + blank), ""


def _real_handwriting(predictor: inference.Predictor, meta: dict, path: Path, dataset: str,
                      data_root) -> tuple[float | None, str]:
    """Accuracy on UNIPEN's benchmark writers drawn on the canvas (pen.benchmark): a shipped model's
    stored figure (written by pretrain), else measured (cached inputs: a fraction of a second)."""
    stored = (meta.get("extra") or {}).get("real_handwriting")
    shipped = path.resolve().parent == inference.shipped_dir().resolve()
    if shipped and isinstance(stored, dict) and isinstance(stored.get("accuracy"), float):
        return stored["accuracy"], ""
    if dataset != "mnist":
        return None, "pen-drawn digits are digits; this model was trained on another dataset"
    try:
        return pen.benchmark(predictor, data_root)["accuracy"], ""
    except data.DataUnavailable as exc:
        return None, str(exc).splitlines()[0]


def _epochs(meta: dict) -> float | None:
    done = meta["metrics"].get("epochs_done")
    if done is None and meta["history"].get("epochs"):
        done = meta["history"]["epochs"][-1].get("epoch")
    return done if done is not None else meta["config"].get("epochs")


def _number(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _count(v) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and 0 < v < 1 << 20 else None


SETTINGS_KEYS = ("optimizer", "lr", "schedule", "batch_size", "epochs", "max_steps", "train_limit", "augment",
                 "pen_data", "styles", "dataset", "init_from", "collection", "label_smoothing", "weight_decay")


def _settings(config: dict) -> dict:
    """The training settings a table shows, kept only where plain and short (a file may hold anything)."""
    out = {}
    for k in SETTINGS_KEYS:
        v = config.get(k)
        if isinstance(v, bool) or (isinstance(v, str) and len(v) <= 200) or _number(v) is not None:
            out[k] = v
    return out


def _measure(path: Path, data_root) -> dict:
    """Load the checkpoint (CheckpointError if it is not a usable one) and measure it."""
    model, meta = checkpoints.load(path)
    predictor = inference.Predictor(model, meta, meta.get("name") or path.stem, path)
    arch = ARCHS[meta["arch"]]
    metrics = meta["metrics"]
    dataset = meta.get("dataset") or meta["config"].get("dataset") or "mnist"
    drawn, drawn_note = _drawn_accuracy(predictor, dataset, data_root)
    real, real_note = _real_handwriting(predictor, meta, path, dataset, data_root)
    return {
        "arch": meta["arch"],
        "params": param_count(model),
        "epochs": _epochs(meta),
        "train_seconds": metrics.get("train_seconds"),
        "device": metrics.get("device") or meta["config"].get("device"),
        "load_1min": _number(metrics.get("load_1min")),  # None: not recorded (checkpoints made before it was)
        "cpu_count": _count(metrics.get("cpu_count")),
        "config": _settings(meta["config"]),
        "test_accuracy": metrics.get("test_accuracy"),  # None for an upload not measured yet
        "claimed_accuracy": metrics.get("claimed_test_accuracy"),  # what an upload's file said (never used)
        "accuracy_source": metrics.get("accuracy_source") or "training",  # training, measured or claimed
        "reported_accuracy": arch.reported_accuracy,
        "reported": arch.reported,
        "drawn_accuracy": real,  # real handwriting: UNIPEN's benchmark writers drawn on the canvas
        "drawn_note": real_note,
        "redrawn_accuracy": drawn,  # MNIST's own test digits re-rendered as drawings
        "redrawn_note": drawn_note,
        "latency_ms": predictor.latency_ms(LATENCY_REPEATS),
        "dataset": dataset,
        "created": meta.get("created"),
        "stored_name": meta.get("name"),
        "history": {"steps": meta["history"].get("steps") or [], "epochs": meta["history"].get("epochs") or []},
    }


def _drawn_now_possible(summary: dict, data_root) -> bool:
    """A cached summary without a drawn accuracy that could be completed now."""
    return (summary.get("redrawn_accuracy") is None and summary.get("dataset") == "mnist"
            and _drawn_module() is not None and data.is_available("mnist", data_root))


def _cached_summary(entry: inference.ModelEntry, cdir, data_root) -> tuple[dict | None, Path]:
    path = Path(entry.path)
    try:
        key = checkpoint_key(path)
    except OSError as exc:
        raise checkpoints.CheckpointError(f"{path.name}: cannot be read ({exc.strerror or exc})") from exc
    target = _cache_file(cache_dir(cdir), path, "summary", key, "json")
    try:
        row = json.loads(target.read_text())
    except (OSError, ValueError):
        return None, target
    if not isinstance(row, dict) or _drawn_now_possible(row, data_root):
        return None, target
    return row, target


def summary(entry: inference.ModelEntry, cdir=None, data_root=None) -> dict:
    """One table row for a model (cached). Raises checkpoints.CheckpointError for a bad file."""
    row, target = _cached_summary(entry, cdir, data_root)
    if row is None:
        row = _measure(Path(entry.path), data_root)
        _store(target, json.dumps(row).encode())
    return {"name": entry.name, "source": entry.source, "path": str(entry.path), **row}


def summaries(entries: Iterable[inference.ModelEntry] | None = None, cdir=None, data_root=None,
              on_progress: Callable[[int, int, str], None] | None = None) -> tuple[list[dict], list[str]]:
    """Rows for every model, and one message (naming the file) per checkpoint that was refused.

    on_progress(done, total, name) is called before each model that must be measured (a cache
    miss), so a page can show progress on first use and nothing when all is cached.
    """
    entries = list(inference.model_entries() if entries is None else entries)
    rows, problems = [], []
    for i, e in enumerate(entries):
        try:
            if on_progress and _cached_summary(e, cdir, data_root)[0] is None:
                on_progress(i, len(entries), e.name)
            rows.append(summary(e, cdir, data_root))
        except checkpoints.CheckpointError as exc:
            problems.append(str(exc))
    return rows, problems


def best(rows: list[dict], key: str = "test_accuracy") -> dict | None:
    """The row with the highest `key` (rows without it, and claimed figures, are skipped)."""
    scored = [r for r in rows if isinstance(r.get(key), (int, float)) and r.get("accuracy_source") != "claimed"]
    return max(scored, key=lambda r: r[key]) if scored else None


def epoch_points(rows: list[dict]) -> list[dict]:
    """Long format for plotting: one point per model and evaluated epoch."""
    return [{"model": r["name"], "epoch": e.get("epoch"), "seconds": e.get("seconds"),
             "test_accuracy": e.get("test_accuracy"), "train_accuracy": e.get("train_accuracy"),
             "test_loss": e.get("test_loss")}
            for r in rows for e in r["history"]["epochs"]]


def step_points(rows: list[dict]) -> list[dict]:
    """Long format: one point per model and logged step ([step, epoch, loss, seconds])."""
    return [{"model": r["name"], "step": s[0], "epoch": s[1], "loss": s[2], "seconds": s[3]}
            for r in rows for s in r["history"]["steps"] if len(s) >= 4]


# --- what the table says, in words ---------------------------------------------------------------


def busy(load: float, cpus: int) -> bool:
    """A load clearly above what the run itself puts on the cores (about one per core it trains on):
    other work was competing, so the time measured is longer than this machine needs."""
    return load > 1.25 * cpus + 0.5


def timed_on(row: dict) -> str:
    """Where a row's training time was measured: "2 CPU cores, idle (load 1.9)", "2 CPU cores, busy:
    load 5.7", or "load not recorded" for a checkpoint made before the load was saved."""
    device = str(row.get("device") or "").lower()
    where = "GPU, " if device.startswith("cuda") else "Apple GPU, " if device == "mps" else ""
    load, cpus = _number(row.get("load_1min")), _count(row.get("cpu_count"))
    if load is None or cpus is None:
        return f"{where or ('CPU, ' if device == 'cpu' else '')}load not recorded"
    state = f"busy: load {load:.1f}" if busy(load, cpus) else f"idle (load {load:.1f})"
    return f"{where}{cpus} CPU core{'s' if cpus != 1 else ''}, {state}"


def timing_caveat(rows: list[dict]) -> str | None:
    """A warning in words when some training times may include other work on the machine; None when every
    time was measured on idle cores."""
    said = {r["name"]: timed_on(r) for r in rows if r.get("train_seconds") is not None}
    busy_ = [n for n, t in said.items() if "busy" in t]
    unknown = [n for n, t in said.items() if "not recorded" in t]
    parts = ([f"{', '.join(busy_)} trained on a busy machine"] if busy_ else []) + (
        [f"{', '.join(unknown)} {'carries' if len(unknown) == 1 else 'carry'} no load record (made before it "
         "was saved)"] if unknown else [])
    if not parts:
        return None
    return ("Training times are wall-clock seconds on the machine that trained each model, each with its own "
            f"recipe: {'; '.join(parts)}, so their times may include other work and say little about the model's "
            "speed. Compare times only between runs timed on idle cores.")


def settings_text(row: dict) -> str:
    """A run's recipe in one line: "cnn · adam lr 0.02 onecycle · batch 64 · 1 epoch · augmented"."""
    c = row.get("config") or {}
    parts = [str(row.get("arch") or "?")]
    if c.get("dataset") not in (None, "mnist"):
        parts.append(data.DATASETS.get(c["dataset"], (None, str(c["dataset"])))[1])
    opt = f"{c.get('optimizer') or '?'}" + (f" lr {c['lr']:g}" if _number(c.get("lr")) is not None else "")
    if c.get("schedule") not in (None, "constant"):
        opt += f" {c['schedule']}"
    parts.append(opt)
    if _number(c.get("batch_size")) is not None:
        parts.append(f"batch {c['batch_size']:g}")
    epochs = _number(c.get("epochs"))
    if _number(c.get("max_steps")):
        parts.append(f"{c['max_steps']:g} steps")
    elif epochs is not None:
        parts.append(f"{epochs:g} epoch{'s' if epochs != 1 else ''}")
    if _number(c.get("train_limit")):
        parts.append(f"first {c['train_limit']:,.0f} images")
    for key, word in (("label_smoothing", "smoothing"), ("weight_decay", "decay")):
        if _number(c.get(key)):
            parts.append(f"{word} {c[key]:g}")
    parts += [word for key, word in (("augment", "augmented"), ("pen_data", "pen data"), ("styles", "styles"))
              if c.get(key) is True]
    if c.get("init_from"):
        parts.append(f"fine-tuned from {Path(str(c['init_from'])).stem}")
    if c.get("collection"):
        parts.append(f"on drawings '{c['collection']}'")
    return " · ".join(parts)


def tutorial(arch: str) -> tuple[float | None, str]:
    """What the architecture's tutorial reported: (its MNIST test accuracy, or None where it reported
    another dataset or measure, or nothing), and the figure in words with its dataset, metric and epochs."""
    a = ARCHS.get(arch)
    if a is None:
        return None, "not an architecture of the registry"
    mnist = a.reported_accuracy if a.reported_dataset == "mnist" else None
    label = data.DATASETS.get(a.reported_dataset, (None, a.reported_dataset))[1]
    said = a.reported
    if not said.startswith("no ") and label.lower() not in said.lower():
        said = f"{label}: {said}"
    return mnist, said


def table_rows(rows: list[dict], on_drawings: dict | None = None) -> list[dict]:
    """The summaries with what the table adds in words: tutorial figures, where each was timed, settings,
    and the accuracy on a collection of the user's drawings (name -> fraction or None) when given."""
    out = []
    for r in rows:
        mnist, said = tutorial(r.get("arch"))
        extra = {"tutorial_mnist": mnist, "tutorial_said": said, "timed_on": timed_on(r),
                 "settings": settings_text(r)}
        if on_drawings is not None:
            extra["drawings_accuracy"] = on_drawings.get(r["name"])
        out.append({**r, **extra})
    return out


def missing_notes(rows: list[dict], headers: dict[str, str], notes: dict[str, str] | None = None) -> list[str]:
    """Why cells are empty, one line per column and reason: "Real handwriting, lenet_f: trained on another
    dataset". `headers` maps a row key to its column's header; notes[name] is a row's drawings note."""
    why = {"drawn_accuracy": "drawn_note", "redrawn_accuracy": "redrawn_note"}
    grouped: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        for key, header in headers.items():
            if r.get(key) is not None:
                continue
            if key == "test_accuracy":
                reason = ("only claimed by the uploaded file until it is measured here" if
                          r.get("accuracy_source") == "claimed" else "not recorded in its checkpoint")
            elif key == "drawings_accuracy":
                reason = (notes or {}).get(r["name"]) or "not measured"
            elif key in why:
                reason = r.get(why[key]) or "not measured"
            else:
                continue
            grouped.setdefault((header, reason), []).append(r["name"])
    return [f"{header} — {', '.join(names)}: {reason}" for (header, reason), names in grouped.items()]


# --- accuracy on a collection of the user's drawings ------------------------------------------------

_ON_DRAWINGS: dict[tuple, float] = {}  # (checkpoint key, held-out content) -> accuracy
_ON_DRAWINGS_LOCK = threading.Lock()
ON_DRAWINGS_KEEP = 512


def drawing_collections(runs=None) -> tuple[dict[str, int], str | None]:
    """The user's collections (name -> drawings) and a problem in words; never creates the database."""
    if not (inference.runs_dir(runs) / drawings.DB_NAME).is_file():
        return {}, None
    try:
        return drawings.DrawingStore(runs).collections(), None
    except (drawings.StoreError, sqlite3.Error) as exc:
        return {}, str(exc)


def collection_accuracies(rows: list[dict], collection: str, runs=None) -> tuple[dict[str, float | None],
                                                                                 dict[str, str], int]:
    """Each row's accuracy on the held-out part of a collection (every fifth drawing of each digit, the part
    fine-tuning never trains on), through its Predictor.proba_batch: (name -> fraction or None, name -> why
    None, held-out drawings). Cached per checkpoint version (path, mtime, size) and held-out content."""
    try:
        _, held = drawings.DrawingStore(runs).split(collection)
    except (drawings.StoreError, sqlite3.Error) as exc:
        return dict.fromkeys(r["name"] for r in rows), {r["name"]: str(exc) for r in rows}, 0
    xs, labels = drawings.arrays(held)
    if not len(xs):
        why = (f"no held-out drawings in '{collection}' yet: every {drawings.HOLDOUT_EVERY}th drawing of each "
               f"digit is held out, so a digit needs {drawings.HOLDOUT_EVERY} drawings")
        return dict.fromkeys(r["name"] for r in rows), {r["name"]: why for r in rows}, 0
    content = _digest(hashlib.sha1(labels.tobytes() + xs.tobytes()).hexdigest())
    scores, notes = {}, {}
    for r in rows:
        name, path = r["name"], Path(r["path"])
        if (r.get("dataset") or "mnist") != "mnist":
            scores[name], notes[name] = None, "drawn digits are digits; this model was trained on another dataset"
            continue
        try:
            key = (checkpoint_key(path), content)
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
            scores[name] = acc
        except (checkpoints.CheckpointError, OSError) as exc:
            scores[name], notes[name] = None, f"could not be measured ({str(exc).splitlines()[0][:200]})"
    return scores, notes, len(xs)


# --- renaming and deleting a run (the runner moves the files; its cache files follow) -----------------


def forget(path: str | os.PathLike, cdir=None) -> None:
    """Remove every cache file of a checkpoint path (a run deleted or renamed away)."""
    prefix = f"{_digest(Path(path).resolve())}-"
    try:
        for f in cache_dir(cdir).glob(prefix + "*"):
            f.unlink(missing_ok=True)
    except OSError:
        pass


def rename_run(runner: jobs.JobRunner, name: str, new: str, cdir=None) -> str:
    """Rename the user's run `name` (a file stem in the runs folder) through the runner, which refuses shipped
    models and queued or running jobs (ValueError). Its cached summary moves with it (the file is only moved,
    so nothing is measured again); the old path's cache files go. Returns the name it got."""
    old = checkpoints.path_in(runner.runs_dir, name)
    try:
        cached = _cache_file(cache_dir(cdir), old, "summary", checkpoint_key(old), "json").read_bytes()
    except OSError:
        cached = None
    new_path = runner.rename_run(name, new)
    if cached is not None:
        try:
            _store(_cache_file(cache_dir(cdir), new_path, "summary", checkpoint_key(new_path), "json"), cached)
        except OSError:
            pass
    forget(old, cdir)
    return new_path.stem


def delete_run(runner: jobs.JobRunner, name: str, cdir=None) -> list[Path]:
    """Delete the user's run `name` through the runner (ValueError for a shipped model or an active job), and
    its cache files. Returns the files removed."""
    removed = runner.delete_run(name)
    forget(checkpoints.path_in(runner.runs_dir, name), cdir)
    return removed


# --- evaluations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """A model on the whole test set. Mistakes are sorted most confident first."""

    accuracy: float
    n: int
    confusion: np.ndarray  # (10, 10) int: row = true label, column = prediction
    per_class: np.ndarray  # (10,) accuracy per true label
    mistake_index: np.ndarray  # (k,) positions in the test set
    mistake_pred: np.ndarray  # (k,)
    mistake_true: np.ndarray  # (k,)
    mistake_conf: np.ndarray  # (k,) probability of the wrong prediction
    mistake_images: np.ndarray  # (k, 28, 28) uint8

    @property
    def mistakes(self) -> int:
        return int(self.n - np.trace(self.confusion))


def _evaluate(path: Path, dataset: str, data_root) -> Evaluation:
    model, meta = checkpoints.load(path)
    predictor = inference.Predictor(model, meta, path.stem, path, tta=False)  # as training measures it
    split = data.load(dataset, train=False, root=data_root, download=False)
    res = evaluate(predictor, split.images, split.labels)
    top = res["mistakes"][:MISTAKES_KEPT]
    pred = res["predictions"][top]
    return Evaluation(
        accuracy=res["accuracy"], n=len(split), confusion=res["confusion"].astype(np.int64),
        per_class=res["per_class"].astype(np.float64), mistake_index=top.astype(np.int64),
        mistake_pred=pred.astype(np.int64), mistake_true=split.labels.numpy()[top].astype(np.int64),
        mistake_conf=res["probs"][top, pred].astype(np.float64),
        mistake_images=split.images.numpy()[top].astype(np.uint8).reshape(-1, 28, 28),
    )


def evaluation(entry: inference.ModelEntry, dataset: str = "mnist", cdir=None, data_root=None) -> Evaluation:
    """The model's evaluation on the test set (cached per checkpoint and test files).

    Raises data.DataUnavailable when the test set is absent, CheckpointError for a bad file.
    """
    path = Path(entry.path)
    if not data.is_available(dataset, data_root):
        raise data.DataUnavailable(
            f"the {data.DATASETS[dataset][1]} test set is not available in {data.raw_dir(dataset, data_root)} "
            f"(set MNIST_DATA_DIR to a folder holding {data.DATASETS[dataset][1]}/raw/)")
    key = _digest(checkpoint_key(path), dataset, _test_files_key(dataset, data_root))
    target = _cache_file(cache_dir(cdir), path, "eval", key, "npz")
    try:
        with np.load(target, allow_pickle=False) as z:
            return Evaluation(**{k: z[k] for k in Evaluation.__dataclass_fields__ if k not in ("accuracy", "n")},
                              accuracy=float(z["accuracy"]), n=int(z["n"]))
    except Exception:  # missing, truncated or from an older version: measure again
        pass
    ev = _evaluate(path, dataset, data_root)
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(getattr(ev, k)) for k in Evaluation.__dataclass_fields__})
    _store(target, buf.getvalue())
    return ev


def gallery(ev: Evaluation, k: int = 24, scale: int = 3) -> list[tuple[np.ndarray, str]]:
    """The k most confident mistakes as (image upscaled `scale` times, caption)."""
    out = []
    picked = (ev.mistake_images[:k], ev.mistake_pred[:k], ev.mistake_true[:k], ev.mistake_conf[:k])
    for img, p, t, c in zip(*picked, strict=True):
        big = np.kron(img, np.ones((scale, scale), np.uint8))  # nearest-neighbour, crisp pixels
        out.append((big, f"predicted {p}, true {t} ({100 * c:.0f}%)"))
    return out
