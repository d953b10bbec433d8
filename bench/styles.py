"""One writing style at a time: a short cnn run of the shipped recipe (recipes.pretrain("cnn"), fewer
epochs, same seed) with the named styles of pen_styles.STYLES switched on (and low-resolution scans in a
share of the styled batches, augment.SCAN_P), read as the app reads:

- UNIPEN's benchmark writers (pen.benchmark: overall, per lab, per digit);
- the MNIST re-render (mnist_core.drawn, preprocess), and MNIST's test set (the network alone);
- our own scan-like re-render of MNIST's test set (NOT a blind figure): each test digit's ink box
  resampled to 16x16 (area-averaged; a wide digit stretched to fill it, a narrow one read from a span
  1.75 times its width), binarised at half ink, saved as dark ink on white paper and read through the
  upload path (`preprocess`, as an uploaded image is).

    python bench/styles.py [--style curled_9 ...] [--scan-p 0.1] [--epochs 3] [--seed 0] [--threads 1]

A run with pen styles re-renders only the digits they change (STYLE_LABELS; --full-renders: all of them):
the other pen renders are the baseline's own, so the two runs differ by the style alone.

Prints one JSON line (also appended to bench/out/styles.jsonl) with the figures, the styles, the
seconds and the machine's load before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mnist_core import augment, data, drawn, inference, pen, pen_styles, recipes, trainset  # noqa: E402
from mnist_core.preprocess import SCAN_ASPECT, preprocess  # noqa: E402
from mnist_core.training import train  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
# the digits each style redraws: a run with styles re-renders only those digits' pen renders, the others
# are the baseline's own (the same images in both runs: only the style differs, and it costs a tenth)
BASELINE_RENDERS = pen.training_set
STYLE_LABELS = {
    "curled_9": (9,),
    "slanted_9": (9,),
    "footed_7": (7,),
    "one_stroke_4": (4,),
    "footed_1": (1,),
    "upright_slash_0": (0,),
    "barred_0": (0,),
    "looped_2": (2,),
}


def spliced_training_set(root, renders: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """pen.training_set as the styles switched on would render it, for the digits they change: the
    baseline's renders (styles off, cached) with the jittered renders of those digits drawn again."""
    on = {k for k, v in pen_styles.STYLES.items() if v}
    for k in pen_styles.STYLES:
        pen_styles.STYLES[k] = False
    images, labels = BASELINE_RENDERS(root, renders=renders, seed=seed)
    for k in on:
        pen_styles.STYLES[k] = True
    images = images.copy()
    train, _ = pen.split(pen.load(root))
    redo = np.flatnonzero(np.isin(labels, [lab for k in on for lab in STYLE_LABELS[k]]))
    rng = np.random.default_rng([seed, 1])
    for r in range(1, renders):
        for i in redo:
            images[r, i] = pen.training_render(train[i], rng, jittered=True)
    return images, labels


def _cached(name: str, make) -> dict:
    """Inputs made once and kept in bench/out (the re-render's 5,000 drawings, the scan re-render)."""
    path = OUT / f"styles-{name}.npz"
    if path.is_file():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    out = make()
    OUT.mkdir(exist_ok=True)
    np.savez_compressed(path, **out)
    return out


def scan_like(image28: np.ndarray, side: int = 16) -> np.ndarray | None:
    """One MNIST digit (28x28 uint8, ink bright) as a low-resolution binarised scan: (side, side) uint8,
    dark ink on white paper, the ink's box stretched to fill it (a narrow digit read from a span 1.75
    times its width). None when there is no ink."""
    mask = image28 > 76
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size == 0:
        return None
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    h, w = bottom - top, right - left
    if w / max(h, w) < 0.45:
        cx, span = (left + right) / 2, min(1.75 * w, max(h, w))
        left, right = cx - span / 2, cx + span / 2
    img = Image.fromarray(image28).resize((side, side), Image.BOX, box=(left, top, right, bottom))
    return np.where(np.asarray(img) >= 128, 0, 255).astype(np.uint8)


def scan_inputs(root, n: int = 10000) -> dict:
    """`scan_like` renders of MNIST's first n test digits through `preprocess`: {"x", "labels"}."""
    test = data.load("mnist", train=False, root=root)
    xs = []
    for img in test.images[:n].numpy():
        s = scan_like(img)
        x = None if s is None else preprocess(s)
        xs.append(np.zeros((28, 28), np.float32) if x is None else x)
    return {"x": np.stack(xs), "labels": test.labels[:n].numpy()}


def scan_check(predictor, root, n: int = 10000) -> dict:
    """Accuracy (overall and per digit) of the predictor on `scan_like` renders of MNIST's test set, read
    through `preprocess` (as the upload path reads an image)."""
    d = _cached(f"scan-{n}-aspect{SCAN_ASPECT}", lambda: scan_inputs(root, n))  # as the upload path reads scans
    x, labels = d["x"], d["labels"]
    preds = np.concatenate([predictor.proba_batch(x[i : i + 1000]) for i in range(0, len(x), 1000)]).argmax(1)
    ok = preds == labels
    return {"accuracy": float(ok.mean()), "per_digit": {str(k): float(ok[labels == k].mean()) for k in range(10)}}


def rerender(predictor, root, n: int = 5000) -> float:
    """drawn_accuracy (the MNIST re-render through preprocess, seed 0), its inputs kept in bench/out."""
    d = _cached(f"rerender-{n}", lambda: drawn.drawn_inputs(n, 0, root))
    x = d["preprocess"]
    probs = np.concatenate([predictor.proba_batch(x[i : i + 1000]) for i in range(0, len(x), 1000)])
    return round(float(((probs.argmax(1) == d["labels"]) & ~d["blank_preprocess"]).mean()), 4)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--style", action="append", default=[], choices=sorted(pen_styles.STYLES))
    ap.add_argument("--scan-p", type=float, default=augment.SCAN_P)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=recipes.PRETRAIN_SEED)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-dir")
    ap.add_argument("--tag", default="")
    ap.add_argument("--full-renders", action="store_true", help="render every pen digit with the styles")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    for name in pen_styles.STYLES:
        pen_styles.STYLES[name] = name in args.style
    augment.SCAN_P = args.scan_p
    if args.style and not args.full_renders:
        trainset.pen.training_set = spliced_training_set  # what trainset.load reads, for this process
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    cfg = replace(recipes.pretrain("cnn"), epochs=args.epochs, seed=args.seed)
    result = train(cfg, data_root=args.data_dir)
    train_s = time.perf_counter() - t0
    predictor = inference.Predictor(result.model, {"arch": "cnn"}, "cnn")
    bench = pen.benchmark(predictor, args.data_dir)
    row = {
        "tag": args.tag,
        "styles": args.style,
        "scan_p": args.scan_p,
        "epochs": args.epochs,
        "seed": args.seed,
        "unipen": round(bench["accuracy"], 4),
        "unipen_per_digit": {k: round(v, 4) for k, v in bench["per_digit"].items()},
        "unipen_per_lab": {k: round(v, 4) for k, v in bench["per_lab"].items()},
        "confusions": bench["confusions"],
        "mnist_test": result.test_accuracy,
        "rerender_5000": rerender(predictor, args.data_dir),
        "scan_check_ours": scan_check(predictor, args.data_dir),
        "train_seconds": round(train_s, 1),
        "load": [round(load0, 2), round(os.getloadavg()[0], 2)],
    }
    OUT.mkdir(exist_ok=True)
    with open(OUT / "styles.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
