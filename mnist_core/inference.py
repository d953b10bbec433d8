"""Prediction: Predictor (preprocess + model + softmax), model listing and loading, evaluation.

Shipped models live in `models/` (named by architecture); a user's runs live in the runs
directory ($MNIST_RUNS_DIR, else ./runs), named by run name. A path to a checkpoint also works.
A Predictor's model is in eval mode and is never trained: it may be shared by many sessions.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import checkpoints, data, settings
from .catalog import NOT_A_DIGIT as NOT_A_DIGIT  # the index of the "not a digit" output, in the networks with one
from .models import ARCHS, DEFAULT_ARCH
from .preprocess import preprocess

SHIPPED_DIR = settings.SHIPPED_DIR
log = logging.getLogger(__name__)


def shipped_dir(models_dir: str | os.PathLike | None = None) -> Path:
    return settings.models_dir(models_dir)


def runs_dir(runs: str | os.PathLike | None = None) -> Path:
    """Where a user's own runs are saved: $MNIST_RUNS_DIR, else ./runs (never models/)."""
    return settings.runs_dir(runs)


@dataclass(frozen=True)
class ModelEntry:
    name: str
    path: Path
    source: str  # "shipped" or "run"
    problem: str | None = None  # why the file cannot be used (only in unreadable_entries)


_checked: dict[str, str | None] = {}  # "path|mtime_ns|size" -> None (usable) or the reason it is not
_checked_lock = threading.Lock()
CHECKED_KEEP = 1024


def checkpoint_problem(path: str | os.PathLike) -> str | None:
    """None when the file is a usable checkpoint, else why not (its CheckpointError message, which
    starts with the file's name). Checked once per process and version of the file (path, mtime, size)."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        return f"{p.name}: cannot be read ({exc.strerror or exc})"
    key = f"{p.resolve()}|{st.st_mtime_ns}|{st.st_size}"
    with _checked_lock:
        if key in _checked:
            return _checked[key]
    try:
        checkpoints.load(p)
        problem = None
    except checkpoints.CheckpointError as exc:
        problem = str(exc)
    except Exception as exc:  # anything else a file can provoke: logged in full, named to the user
        log.exception("checking %s", p)
        problem = f"{p.name}: not a usable checkpoint ({type(exc).__name__})"
    with _checked_lock:
        while len(_checked) >= CHECKED_KEEP:
            _checked.pop(next(iter(_checked)))
        _checked[key] = problem
    return problem


def model_entries(models_dir=None, runs=None) -> list[ModelEntry]:
    """Every checkpoint file: shipped ones (registry order), then the user's runs (newest first).
    Files are listed, not read: list_models and usable_entries keep only the usable ones.

    A run whose name equals a shipped one is listed as "run:NAME" so that both stay reachable.
    """
    entries, seen = [], set()
    shipped = shipped_dir(models_dir)
    for arch in ARCHS:
        p = shipped / f"{arch}{checkpoints.SUFFIX}"
        if p.is_file():
            entries.append(ModelEntry(arch, p, "shipped"))
            seen.add(arch)
    rdir = runs_dir(runs)
    run_files = []
    if rdir.is_dir():

        def mtime(p: Path) -> float:
            try:
                return p.stat().st_mtime
            except OSError:  # removed while listing
                return 0.0

        run_files = sorted(
            (p for p in rdir.glob(f"*{checkpoints.SUFFIX}") if not p.name.startswith(".")), key=mtime, reverse=True
        )
    for p in run_files:
        name = p.stem if p.stem not in seen else f"run:{p.stem}"
        entries.append(ModelEntry(name, p, "run"))
        seen.add(name)
    return entries


def usable_entries(models_dir=None, runs=None) -> list[ModelEntry]:
    """model_entries that pass checkpoints.load's checks (checked once per file version)."""
    return [e for e in model_entries(models_dir, runs) if checkpoint_problem(e.path) is None]


def unreadable_entries(models_dir=None, runs=None) -> list[ModelEntry]:
    """The checkpoint files that are not listed, each with its `problem` (a message naming the file)."""
    out = []
    for e in model_entries(models_dir, runs):
        problem = checkpoint_problem(e.path)
        if problem is not None:
            out.append(ModelEntry(e.name, e.path, e.source, problem))
    return out


def list_models(models_dir=None) -> list[str]:
    """Names accepted by load_model: shipped models by architecture, then the user's runs (files that
    fail the checks are left out: see unreadable_entries)."""
    return [e.name for e in usable_entries(models_dir)]


def resolve(name_or_path: str | os.PathLike, models_dir=None) -> Path:
    for e in model_entries(models_dir):  # a bad file by name: load_model then says what is wrong with it
        if e.name == str(name_or_path):
            return e.path
    p = Path(name_or_path)
    if p.suffix == checkpoints.SUFFIX and p.is_file():
        return p
    shown = p.name if p.name != str(name_or_path) else str(name_or_path)  # a path: its file's name, never the path
    log.warning("no model named %s", name_or_path)
    raise ValueError(f"no model named {shown!r}; available: {', '.join(list_models(models_dir)) or 'none'}")


# Test-time augmentation for the models made for drawn input (Arch.drawn_input): each input is read as
# given and in three more views (tilted 10 degrees either way, and 10% smaller), and the four readings'
# probabilities are averaged. People slant and size their digits in every way; averaging over such views
# read UNIPEN's benchmark writers and MNIST's test set better for each of those models (cnn: 97.7% -> 98.2%
# and 99.13% -> 99.35%), for about 1 ms more per drawing. The tutorials' MLPs, softmax and the LSTM gained
# little or lost, so they read once.
TTA_VIEWS = ((0.0, 1.0), (-10.0, 1.0), (10.0, 1.0), (0.0, 0.9))  # (degrees, scale)


def _view_matrices() -> torch.Tensor:
    """(V, 2, 3) affine_grid matrices, one per view: rotate by degrees, shrink to scale, about the centre."""
    rows = []
    for deg, scale in TTA_VIEWS:
        c, s = np.cos(np.radians(deg)) / scale, np.sin(np.radians(deg)) / scale
        rows.append([[c, -s, 0.0], [s, c, 0.0]])
    return torch.tensor(rows, dtype=torch.float32)


_VIEW_MATRICES = _view_matrices()  # built once, not per drawing


def tta_views(x: torch.Tensor) -> torch.Tensor:
    """(N, 1, 28, 28) -> (V * N, 1, 28, 28): every input in each of the TTA_VIEWS, view by view."""
    theta = _VIEW_MATRICES.repeat_interleave(len(x), 0)
    grid = torch.nn.functional.affine_grid(theta, (len(theta), 1, 28, 28), align_corners=False)
    return torch.nn.functional.grid_sample(x.repeat(len(TTA_VIEWS), 1, 1, 1), grid, align_corners=False)


@dataclass(frozen=True)
class Reading:
    """What a model reads in one image. `probabilities` (10,): the digits' (calibrated); `digit`: the most
    probable; `digit_score` in [0, 1]: how much the image looks like a digit (None: this model has no "not
    a digit" output); `is_digit`: the score at or over the model's fitted threshold (always True without
    one)."""

    probabilities: np.ndarray
    digit_score: float | None
    is_digit: bool

    @property
    def digit(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def confidence(self) -> float:
        return float(np.max(self.probabilities))


class Predictor:
    """A loaded model ready for inference on the CPU. `tta`: read each input in the TTA_VIEWS and
    average; None (the app's way): on for the architectures made for drawn input; False reads each
    input once, as the network alone does (the test accuracy its training recorded)."""

    def __init__(
        self, model: torch.nn.Module, meta: dict, name: str, path: Path | None = None, tta: bool | None = None
    ):
        arch = ARCHS.get(meta.get("arch", ""))
        self.tta = bool(arch and arch.drawn_input) if tta is None else tta
        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.meta = meta
        self.name = name
        self.path = path
        self.arch = meta.get("arch", "?")

    @property
    def views(self) -> int:
        """How many views of each input this predictor reads (1 without test-time augmentation)."""
        return len(TTA_VIEWS) if self.tta else 1

    @property
    def test_accuracy(self) -> float | None:
        """The accuracy recorded by training or measured here; None for an upload not yet measured
        (what its file claims is in meta["metrics"]["claimed_test_accuracy"], and is never used)."""
        return self.meta.get("metrics", {}).get("test_accuracy")

    @property
    def has_detector(self) -> bool:
        """Whether the network has an 11th, "not a digit" output (trained with the project's non-digits)."""
        return self.classes == NOT_A_DIGIT + 1

    @property
    def reading(self) -> dict:
        """How this model's outputs are read: the temperature its digit probabilities are divided by (fitted
        on UNIPEN's training writers: a confidence that means what it says) and the digit score below which
        a drawing is "not a digit" (fitted to keep DIGITS_KEPT of those writers' digits)."""
        fitted = self.meta.get("extra", {}).get("reading", {})
        return {"temperature": float(fitted.get("temperature", 1.0)), "threshold": float(fitted.get("threshold", 0.5))}

    def logits_batch(self, x28: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(N, 28, 28) float in [0, 1] -> (V, N, C) raw outputs, one row per view (V = self.views), C the
        network's outputs (10, or 11 with the "not a digit" output)."""
        x = torch.as_tensor(np.asarray(x28, dtype=np.float32)).reshape(-1, 1, 28, 28)
        with torch.inference_mode():
            views = tta_views(x) if self.tta and len(x) else x
            out = self.model((views - data.MEAN) / data.STD)
            return out.reshape(len(views) // max(len(x), 1), len(x), out.shape[-1])

    def scores_batch(self, x28: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        """(N, 28, 28) -> ((N, 10) digit probabilities, (N,) digit scores or None without a detector).
        Probabilities: the digits' outputs over the fitted temperature, softmaxed, averaged over the views.
        Digit score: one minus the "not a digit" output's probability among all eleven, averaged."""
        return self.scores_of(self.logits_batch(x28))

    def scores_of(self, logits: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        """scores_batch's figures from logits_batch's (V, N, C) outputs, read once."""
        if logits.shape[-1] not in (10, NOT_A_DIGIT + 1):
            raise ValueError(f"this model has {logits.shape[-1]} outputs, not 10 digits")
        probs = torch.softmax(logits[..., :10] / self.reading["temperature"], -1).mean(0).numpy()
        if logits.shape[-1] == 10:
            return probs, None
        return probs, (1.0 - torch.softmax(logits, -1)[..., NOT_A_DIGIT]).mean(0).numpy()

    @functools.cached_property
    def classes(self) -> int:
        """The network's outputs: 10, or 11 with the "not a digit" output."""
        return int(self.logits_batch(np.zeros((1, 28, 28), np.float32)).shape[-1])

    def proba_batch(self, x28: np.ndarray | torch.Tensor) -> np.ndarray:
        """(N, 28, 28) float in [0, 1] -> (N, 10) class probabilities (averaged over the TTA views
        when self.tta)."""
        return self.scores_batch(x28)[0]

    def read_batch(self, x28: np.ndarray | torch.Tensor) -> list[Reading]:
        """(N, 28, 28) float in [0, 1] -> one Reading per input."""
        probs, scores = self.scores_batch(x28)
        threshold = self.reading["threshold"]
        return [
            Reading(p, None if scores is None else float(scores[i]), bool(scores is None or scores[i] >= threshold))
            for i, p in enumerate(probs)
        ]

    def read(self, image) -> Reading | None:
        """Any uint8 image -> what the model reads in it (Reading), or None for a blank image."""
        x = preprocess(image)
        return None if x is None else self.read_batch(x[None])[0]

    def predict_proba(self, image) -> np.ndarray | None:
        """Any uint8 image -> (10,) probabilities, or None for a blank image."""
        x = preprocess(image)
        return None if x is None else self.proba_batch(x[None])[0]

    def saliency(self, x28: np.ndarray, target: int | None = None) -> np.ndarray:
        """|d logit_target / d input| over the 28x28 input, scaled to [0, 1] (Captum's Saliency, through
        mnist_core.inside, which has the other attributions). Gradients with respect to the input only, no
        hooks: the shared model is untouched. A blank input gives zeros."""
        from . import inside

        heat = inside.attribution(self.model, x28, "saliency", target)
        return np.zeros((28, 28), np.float32) if heat is None else heat

    def latency_ms(self, repeats: int = 50) -> float:
        """Median milliseconds for one 28x28 image through the model (after a warm-up)."""
        x = np.zeros((1, 28, 28), np.float32)
        self.proba_batch(x)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            self.proba_batch(x)
            times.append(time.perf_counter() - t)
        return float(np.median(times) * 1000)


def load_model(name_or_path: str | os.PathLike, models_dir=None, tta: bool | None = None) -> Predictor:
    """A shipped model by architecture name ("cnn" is the default), a run by name, or a path.
    tta=False: the network's own reading of each input, without test-time augmentation."""
    path = resolve(name_or_path, models_dir)
    model, meta = checkpoints.load(path)
    name = str(name_or_path) if not Path(str(name_or_path)).suffix else path.stem
    return Predictor(model, meta, name, path, tta=tta)


def default_model_name(models_dir=None) -> str | None:
    """The best model available: shipped `cnn` when present, else the most accurate one."""
    names = list_models(models_dir)
    if DEFAULT_ARCH in names:
        return DEFAULT_ARCH
    best, best_acc = None, -1.0
    for e in model_entries(models_dir):
        try:
            acc = checkpoints.read(e.path)["metrics"].get("test_accuracy") or 0.0  # None: claimed, not measured
        except checkpoints.CheckpointError:
            continue
        if acc > best_acc:
            best, best_acc = e.name, acc
    return best
