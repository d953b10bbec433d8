"""Pen-drawn digits (UNIPEN 1a): read the strokes, draw them as the Draw page's canvas holds them.

UNIPEN's digits are real pen trajectories from writers who are not MNIST's (Spain, Germany, the
UK, Belgium, Canada, the USA, Japan...): exactly what a person drawing on the canvas produces.
The file is one JSON object a line (`label`, `donor`, `writer`, `strokes`: pen-down strokes of
[x, y] tablet points, y pointing up, each lab with its own resolution).

The split is by lab, so by writer: the *benchmark* labs (val gmd imp lou uqb, 3,469 digits by 44
writers) are never trained on; every other lab is training data. `render` draws a digit on a
280x280 RGBA canvas (white ink, round brush of the Draw page's widths, random size and place,
transparent or black background); `training_set` turns the training writers' digits into
MNIST-style 28x28 images once (several jittered renders each) and caches them on disk.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from . import data, pen_styles, settings
from .files import atomic_path
from .preprocess import preprocess

FILE = "unipen_1a_digits.jsonl.gz"
FOLDER = "UNIPEN"
# A copy shipped with the project (CC BY 4.0, attribution in its README), used when no data
# folder holds one, so the benchmark and pretraining work on a fresh clone.
BUNDLED = Path(__file__).resolve().parent.parent / "datasets" / FOLDER / FILE
BENCHMARK_LABS = ("val", "gmd", "imp", "lou", "uqb")  # never trained on
CANVAS = 280  # the Draw page's canvas, pixels
BRUSH = (8, 40)  # the Draw page's brush-width slider
CACHE_VERSION = 11  # bump when the training renders change


@dataclass(frozen=True)
class PenDigit:
    """One digit: its label, lab (the donor's first three letters), writer, and strokes, each a
    float32 (K, 2) array of (x, y) with y pointing *down* (image rows), in tablet units."""

    label: int
    lab: str
    writer: str
    strokes: tuple[np.ndarray, ...]

    @property
    def benchmark(self) -> bool:
        return self.lab in BENCHMARK_LABS


def candidates(root: str | os.PathLike | None = None) -> list[Path]:
    """Where the file is looked for: the data folder (`--data-dir`, else $MNIST_DATA_DIR, else
    ./data) under UNIPEN/, then the copy bundled with the project."""
    return [data.data_dir(root) / FOLDER / FILE, BUNDLED]


def find(root: str | os.PathLike | None = None) -> Path:
    """The UNIPEN file's path; DataUnavailable naming where it looked when there is none."""
    for path in candidates(root):
        if path.is_file():
            return path
    looked = " and ".join(str(p.resolve()) for p in candidates(root))
    raise data.DataUnavailable(
        f"UNIPEN pen-drawn digits are not available: no {FILE} in {looked}.\n"
        f"Place {FOLDER}/{FILE} under your data folder (--data-dir or MNIST_DATA_DIR); it is UNIPEN "
        f"train_r01_v07 category 1a (Zenodo DOI 10.5281/zenodo.1195803). Training on MNIST alone "
        f"works without it."
    )


def is_available(root: str | os.PathLike | None = None) -> bool:
    return any(p.is_file() for p in candidates(root))


def _parse(line: str) -> PenDigit:
    rec = json.loads(line)
    label = int(rec["label"])
    if not 0 <= label <= 9:
        raise ValueError(f"label {rec['label']!r} is not a digit")
    strokes = []
    for s in rec["strokes"]:
        a = np.asarray(s, dtype=np.float32).reshape(-1, 2)
        if len(a) and np.isfinite(a).all():
            strokes.append(a * np.float32([1, -1]))  # y up -> image rows down
    if not strokes:
        raise ValueError("no pen-down points")
    return PenDigit(label, str(rec["donor"])[:3], str(rec["writer"]), tuple(strokes))


def read(path: str | os.PathLike) -> list[PenDigit]:
    """Every digit in a UNIPEN jsonl.gz file; DataUnavailable naming the file and line if corrupt."""
    path = Path(path)
    digits, line_no = [], 0
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                line_no += 1
                if line.strip():
                    digits.append(_parse(line))
    except (OSError, EOFError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        where = f" (line {line_no})" if line_no else ""
        raise data.DataUnavailable(
            f"Could not read {path}{where}: {str(exc) or type(exc).__name__}. The file is corrupt or "
            f"truncated, or not UNIPEN digits; place a fresh copy of {FILE}."
        ) from exc
    if not digits:
        raise data.DataUnavailable(f"Could not read {path}: it holds no digits; place a fresh copy of {FILE}.")
    return digits


@lru_cache(maxsize=4)
def _load_cached(path: str, mtime: float, size: int) -> tuple[PenDigit, ...]:
    return tuple(read(path))


def load(root: str | os.PathLike | None = None) -> tuple[PenDigit, ...]:
    """All digits of the UNIPEN file that `find` picks, read once per process."""
    path = find(root)
    st = path.stat()
    return _load_cached(str(path.resolve()), st.st_mtime, st.st_size)


def split(digits) -> tuple[list[PenDigit], list[PenDigit]]:
    """(training writers' digits, benchmark writers' digits): by lab, so no writer is in both."""
    train = [d for d in digits if not d.benchmark]
    bench = [d for d in digits if d.benchmark]
    return train, bench


# --- drawing -----------------------------------------------------------------------------------


def draw(strokes, size: float, brush: float, canvas: int, top_left=(0.0, 0.0)) -> np.ndarray:
    """Strokes scaled so the longer side of their box is `size` px, drawn with a round brush of
    `brush` px at `top_left` on a (canvas, canvas) float32 ink image in [0, 1]."""
    pts = np.concatenate(strokes)
    lo, hi = pts.min(0), pts.max(0)
    scale = size / max(float(max(hi - lo)), 1e-6)
    img = Image.new("L", (canvas, canvas), 0)
    pen = ImageDraw.Draw(img)
    r = brush / 2
    off = np.asarray(top_left, np.float32) + r
    for st in strokes:
        p = (st - lo) * scale + off
        xy = [tuple(q) for q in p.tolist()]
        if len(xy) > 1:
            pen.line(xy, fill=255, width=max(1, round(brush)), joint="curve")
        for x, y in (xy[0], xy[-1]):  # round caps, as the canvas's brush draws them
            pen.ellipse([x - r, y - r, x + r, y + r], fill=255)
    return np.asarray(img, np.float32) / 255.0


def render(digit: PenDigit, rng: np.random.Generator, canvas: int = CANVAS) -> np.ndarray:
    """One digit as the Draw page's canvas holds it: (canvas, canvas, 4) uint8 RGBA, white ink
    with a brush from the page's slider range (8-40 px), the digit's longer side from small
    (70 px) to nearly the whole canvas, anywhere on it, on a transparent or a black background.
    A fat brush goes with a big digit (at least 5 brush widths tall), as a person would draw."""
    brush = rng.uniform(*BRUSH) * canvas / CANVAS
    size = rng.uniform(max(0.25 * canvas, 5 * brush), 0.95 * canvas - brush)
    pts = np.concatenate(digit.strokes)
    extent = pts.max(0) - pts.min(0)
    wh = extent / max(float(extent.max()), 1e-6) * size + brush  # the drawing's box with the brush
    x0 = rng.uniform(0, max(canvas - wh[0], 0))
    y0 = rng.uniform(0, max(canvas - wh[1], 0))
    ink = (draw(digit.strokes, size, brush, canvas, (x0, y0)) * 255).astype(np.uint8)
    out = np.zeros((canvas, canvas, 4), np.uint8)
    if rng.random() < 0.5:  # transparent canvas, white strokes
        out[..., :3], out[..., 3] = 255, ink
    else:  # black background, white strokes
        out[..., :3], out[..., 3] = ink[..., None], 255
    return out


def benchmark_samples(root=None, seed: int = 0):
    """Yield (digit, rgba) for every benchmark writer's digit, in file order, drawn with `seed`."""
    _, bench = split(load(root))
    rng = np.random.default_rng(seed)
    for d in bench:
        yield d, render(d, rng)


def _cache_dir() -> Path:
    """$MNIST_CACHE_DIR/pen, else ~/.cache/mnist_lab/pen: renders, never data the app must keep."""
    return settings.cache_dir("pen")


def _key(path: Path, *parts) -> str:
    """A cache key from the file's content (3 MB: milliseconds) and what is made from it."""
    content = hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    raw = json.dumps([content, CACHE_VERSION, *parts])
    return hashlib.blake2b(raw.encode(), digest_size=8).hexdigest()


def training_render(digit: PenDigit, rng: np.random.Generator, jittered: bool) -> np.ndarray:
    """One training render: a jittered trajectory (with a writing style, pen_styles.STYLE_P of the time)
    drawn with a random relative brush width on a small canvas (the same geometry as the 280 px
    one, cheaper), then MNIST-style preprocess."""
    strokes = digit.strokes
    if jittered:
        if pen_styles.styled(digit.label) and rng.random() < pen_styles.STYLE_P:
            strokes = pen_styles.add_style(strokes, digit.label, rng)
        strokes = pen_styles.jitter(strokes, rng)
    size = 80.0
    brush = size * rng.uniform(0.06, 0.2)  # 8-40 px brushes on 70-250 px digits, as on the canvas
    ink = draw(strokes, size, brush, int(size + brush) + 8, (4.0, 4.0))
    x = preprocess((ink * 255).astype(np.uint8))
    return np.zeros((28, 28), np.uint8) if x is None else (x * 255).round().astype(np.uint8)


@lru_cache(maxsize=2)
def _training_cached(path: str, key: str, renders: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    cache = _cache_dir() / f"unipen-train-{key}.npz"
    if cache.is_file():
        try:
            with np.load(cache) as z:
                return z["images"], z["labels"]
        except (OSError, ValueError, KeyError):
            pass  # a broken cache is rebuilt
    train, _ = split(_load_cached(path, *_stat(path)))
    rng = np.random.default_rng(seed)
    images = np.stack([np.stack([training_render(d, rng, jittered=r > 0) for d in train]) for r in range(renders)])
    labels = np.array([d.label for d in train], np.int64)
    try:
        with atomic_path(cache) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, images=images, labels=labels)
    except OSError:
        pass  # no writable cache: renders again next process
    return images, labels


def _stat(path: str) -> tuple[float, int]:
    st = Path(path).stat()
    return st.st_mtime, st.st_size


def training_set(root=None, renders: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The training writers' digits as MNIST-style images: uint8 (renders, N, 28, 28) (render 0
    as written, the others jittered and some given a writing style, `add_style`; each render with
    its own brush width) and int64 labels (N,).
    Rendered once (about a minute per render on one core) and cached on disk ($MNIST_CACHE_DIR,
    else ~/.cache/mnist_lab) and in memory."""
    path = find(root)
    styles = pen_styles.signature()  # the styles switched on beyond the shipped ones: renders of their own
    key = _key(path, renders, seed, *([styles] if styles else []))
    return _training_cached(str(path.resolve()), key, renders, seed)


# --- the real-handwriting benchmark ------------------------------------------------------------

BENCH_SEED = 0


def score(labels, preds, labs) -> dict:
    """Accuracy overall, per lab and per digit, and the five most frequent confusions, of
    predictions (-1 for a drawing read as blank) against labels, for the digits' labs."""
    labels, preds, labs = np.asarray(labels), np.asarray(preds), np.asarray(labs)
    ok = preds == labels
    pairs: dict[tuple[int, int], int] = {}
    for t, p in zip(labels[~ok].tolist(), preds[~ok].tolist(), strict=True):
        pairs[(t, p)] = pairs.get((t, p), 0) + 1
    top = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    return {
        "accuracy": float(ok.mean()) if len(ok) else 0.0,
        "digits": int(len(ok)),
        "per_lab": {lab: float(ok[labs == lab].mean()) for lab in BENCHMARK_LABS if (labs == lab).any()},
        "per_digit": {str(k): float(ok[labels == k].mean()) for k in range(10) if (labels == k).any()},
        "confusions": [[t, p, n] for (t, p), n in top],
    }


@lru_cache(maxsize=2)
def _bench_inputs_cached(path: str, key: str, seed: int) -> dict:
    cache = _cache_dir() / f"unipen-bench-{key}.npz"
    if cache.is_file():
        try:
            with np.load(cache) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError, KeyError):
            pass
    xs, labels, labs, blank = [], [], [], []
    _, bench = split(_load_cached(path, *_stat(path)))
    rng = np.random.default_rng(seed)
    for d in bench:
        x = preprocess(render(d, rng))
        blank.append(x is None)
        xs.append(np.zeros((28, 28), np.float32) if x is None else x)
        labels.append(d.label)
        labs.append(d.lab)
    out = {"x": np.stack(xs), "labels": np.array(labels, np.int64), "labs": np.array(labs), "blank": np.array(blank)}
    try:
        with atomic_path(cache) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, **out)
    except OSError:
        pass
    return out


def benchmark_inputs(root=None, seed: int = BENCH_SEED) -> dict:
    """The benchmark writers' drawings (`benchmark_samples`), preprocessed once and cached:
    {"x": (N, 28, 28) float32, "labels": (N,), "labs": (N,) str, "blank": (N,) bool}."""
    path = find(root)
    return _bench_inputs_cached(str(path.resolve()), _key(path, "bench", seed), seed)


def benchmark(predictor, root=None, seed: int = BENCH_SEED) -> dict:
    """`score` of a Predictor on the benchmark writers, in batches over the cached inputs: the same
    figure as reading each drawing through `predictor.predict_proba` (bench/real_handwriting.py)."""
    d = benchmark_inputs(root, seed)
    x = d["x"]
    probs = np.concatenate([predictor.proba_batch(x[i : i + 1000]) for i in range(0, len(x), 1000)])
    preds = np.where(d["blank"], -1, probs.argmax(1))
    return {"seed": seed, "views": predictor.views, **score(d["labels"], preds, d["labs"])}
