"""What reading a drawing costs: one checkpoint against another (a model before and after retraining), the
Draw page's path (preprocess + the model's views + its verdict) timed one drawing at a time, interleaved
in one process.

    python bench/read_cost.py --before OLD.pt [--after models/cnn.pt] [--drawings 200] [--rounds 5] [--threads 1]

The drawings are UNIPEN's benchmark writers' digits drawn on the 280 x 280 canvas (the first `--drawings`).
Each round times every drawing through `before` (Predictor.predict_proba, what the app called before a
model could say "not a digit") and through `after` (Predictor.read, what it calls now), in turn, and
prints each one's median milliseconds per drawing; last, the median of the rounds' ratios after/before.
An old checkpoint can be taken from the history: `git show REV:models/cnn.pt > /tmp/cnn-old.pt`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mnist_core import inference, pen  # noqa: E402


def per_drawing_ms(read, drawings) -> float:
    """The median milliseconds `read` takes per drawing (one at a time, after one warm-up read)."""
    read(drawings[0])
    times = []
    for img in drawings:
        t = time.perf_counter()
        read(img)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, help="the checkpoint read as before (predict_proba)")
    ap.add_argument("--after", default="cnn", help="the checkpoint read now (read): a name or a path")
    ap.add_argument("--drawings", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-dir")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    before, after = inference.load_model(args.before), inference.load_model(args.after)
    drawings = []
    for _, rgba in pen.benchmark_samples(args.data_dir):
        drawings.append(rgba)
        if len(drawings) >= args.drawings:
            break
    print(f"{len(drawings)} drawings, {args.rounds} rounds, {args.threads} thread(s); ms per drawing (median)")
    ratios = []
    for r in range(args.rounds):
        old = per_drawing_ms(before.predict_proba, drawings)
        new = per_drawing_ms(after.read, drawings)
        ratios.append(new / old)
        print(
            f"round {r + 1}: before {old:.2f} ms ({before.classes} outputs), after {new:.2f} ms "
            f"({after.classes} outputs): {new / old:.2f}x"
        )
    print(f"reading a drawing, after against before: {statistics.median(ratios):.2f}x (target <= 1.3x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
