"""Low-resolution scans through the upload path: each digit made a 16x16 binarised scan stretched to fill
its box (`styles.scan_like`, as some scanned digit sets are kept) and read as an uploaded image is
(`preprocess`, then the model's four views). Such a scan has lost its digit's proportions (a 1 stretched
to a block); `preprocess` reads a stretched scan's frame as a digit SCAN_ASPECT as wide as tall.

    python bench/scans.py [--data-dir DIR] [--model cnn] [--aspect 0.5 --aspect 0.7 ...] [--threads 2]

Prints the accuracy with the scan's ink box read as it stands (SCAN_ASPECT None) and with the frame at each
aspect, on UNIPEN's benchmark writers (never trained on: the figure) and MNIST's test set, and on the two
sets the app's aspect was chosen on (UNIPEN's training writers held out of training, the first 5,000 MNIST
training digits); then the benchmark writers per digit, as it stands and as the app reads them. The MNIST
rows are left out when MNIST is not found, and a set with no digits (no held-out writers in a small file).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from styles import scan_like  # noqa: E402

import mnist_core  # noqa: E402
from mnist_core import data, fit_reading, pen  # noqa: E402

prep = importlib.import_module("mnist_core.preprocess")  # the module (the package exports its function)


def scans(images28) -> list[np.ndarray | None]:
    """Each 28x28 image (float in [0, 1] or uint8, ink bright) as a 16x16 binarised scan (None: no ink)."""
    out = []
    for im in images28:
        im = np.asarray(im)
        out.append(scan_like(im if im.dtype == np.uint8 else (im * 255).round().astype(np.uint8)))
    return out


def sets(root) -> dict[str, tuple[list, np.ndarray]]:
    """name -> (scans, labels): the benchmark writers, MNIST's test set, and the two the aspect was chosen on."""
    bench = pen.benchmark_inputs(root)
    keep = ~bench["blank"]
    fit = fit_reading.fit_inputs(root)
    out = {"UNIPEN benchmark writers": (scans(bench["x"][keep]), bench["labels"][keep])}
    try:
        test, train = data.load("mnist", train=False, root=root), data.load("mnist", train=True, root=root)
    except data.DataUnavailable as exc:
        print(f"MNIST left out: {str(exc).splitlines()[0]}")
    else:
        out["MNIST test set"] = (scans(test.images.numpy()), test.labels.numpy())
    if len(fit["labels"]):
        out["chosen on: held-out training writers"] = (scans(fit["x"]), fit["labels"])
    if "MNIST test set" in out:
        out["chosen on: MNIST training digits"] = (scans(train.images[:5000].numpy()), train.labels[:5000].numpy())
    return out


def read(predictor, scanned, aspect: float | None) -> np.ndarray:
    """The digit read from each scan with SCAN_ASPECT set to `aspect` (-1: no ink found)."""
    shipped, prep.SCAN_ASPECT = prep.SCAN_ASPECT, aspect
    try:
        xs = [None if s is None else prep.preprocess(s) for s in scanned]
    finally:
        prep.SCAN_ASPECT = shipped
    found = np.array([x is not None for x in xs])
    batch = np.stack([np.zeros((28, 28), np.float32) if x is None else x for x in xs])
    probs = np.concatenate([predictor.proba_batch(batch[i : i + 1000]) for i in range(0, len(batch), 1000)])
    return np.where(found, probs.argmax(1), -1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir")
    ap.add_argument("--model", default="cnn", help="model name or checkpoint (default: cnn)")
    ap.add_argument("--aspect", type=float, action="append", help="frame aspects to compare (default 0.5-0.8)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        pen.find(args.data_dir)
    except data.DataUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    predictor = mnist_core.load_model(args.model)
    shipped = prep.SCAN_ASPECT
    aspects = [None, *sorted(set(args.aspect or [0.5, 0.6, 0.7, 0.8]) | {shipped})]
    head = ["as it stands" if a is None else f"{a:g}" + (" (the app)" if a == shipped else "") for a in aspects]
    print(f"{args.model}: 16x16 binarised scans stretched to their box, read through the upload path")
    print(f"\n| scans of | digits | {' | '.join(head)} |\n|---|---:|{'---:|' * len(aspects)}")
    per_digit = {}
    for name, (scanned, labels) in sets(args.data_dir).items():
        reads = {a: read(predictor, scanned, a) for a in aspects}
        cells = " | ".join(f"{100 * np.mean(reads[a] == labels):.2f}%" for a in aspects)
        print(f"| {name} | {len(labels):,} | {cells} |", flush=True)
        if name == "UNIPEN benchmark writers":
            per_digit = {a: (reads[a], labels) for a in (None, shipped)}
    for a, (r, labels) in per_digit.items():
        digits = "  ".join(f"{k}: {100 * np.mean(r[labels == k] == k):.1f}%" for k in np.unique(labels))
        print(f"\nbenchmark writers per digit, {'as it stands' if a is None else 'as the app reads'}: {digits}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
