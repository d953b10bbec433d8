"""Drawn-digit benchmark: MNIST test digits re-rendered as canvas drawings (mnist_core.drawn),
classified after the naive whole-canvas squash and after MNIST-style `preprocess`.

    python bench/drawn_digits.py [--n 5000] [--seed 0] [--data-dir DIR] [--model cnn ...] [--one-view]

Prints one row per model: accuracy with squash, accuracy with preprocess, each read as the app
reads it (the drawn-input models in inference.TTA_VIEWS' views; --one-view: the network alone).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mnist_core import inference  # noqa: E402
from mnist_core.drawn import drawn_accuracy  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir")
    ap.add_argument("--model", action="append", help="model name or checkpoint (default: cnn)")
    ap.add_argument("--one-view", action="store_true", help="read each drawing once, without the app's views")
    args = ap.parse_args()
    print(f"drawn digits: {args.n} MNIST test digits, seed {args.seed}, 280x280 canvas")
    print(f"{'model':<16} {'squash':>8} {'preprocess':>11} {'seconds':>8}" + ("  (one view)" if args.one_view else ""))
    for name in args.model or ["cnn"]:
        p = inference.load_model(name, tta=False if args.one_view else None)
        t = time.perf_counter()
        naive = drawn_accuracy(p, args.n, args.seed, args.data_dir, method="squash")
        good = drawn_accuracy(p, args.n, args.seed, args.data_dir, method="preprocess")
        print(f"{name:<16} {100 * naive:>7.2f}% {100 * good:>10.2f}% {time.perf_counter() - t:>8.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
