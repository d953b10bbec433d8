"""Real-handwriting benchmark: UNIPEN's benchmark writers (labs val gmd imp lou uqb: 3,469 digits
by 44 writers from Spain, Germany, the UK, Belgium and Canada; never trained on), each digit's pen
strokes drawn on a 280x280 canvas as the Draw page's canvas holds it (white brush 8-40 px, random
size and place, transparent or black background; seeded) and read through the public API,
`mnist_core.load_model(name).predict_proba(rgba)`.

    python bench/real_handwriting.py [--data-dir DIR] [--seed 0] [--model cnn ...] [--limit N] [--one-view]

Models made for drawn input read each drawing in four views and average them, as the app does
(inference.TTA_VIEWS); --one-view reads each drawing once (the network alone).

Prints, per model: accuracy overall, per lab and per digit, the five most frequent confusions
(true -> read, count), and milliseconds per drawing (preprocess + model, one at a time).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import mnist_core  # noqa: E402
from mnist_core import data, inference, pen  # noqa: E402


def run(name: str, root, seed: int, limit: int, one_view: bool = False) -> dict:
    """Read every benchmark drawing through predict_proba. A model that reads in several views is also
    timed reading each drawing once, interleaved drawing by drawing: the cost of the views, same run."""
    predictor = mnist_core.load_model(name, tta=False if one_view else None)
    alone = mnist_core.load_model(name, tta=False) if predictor.tta else None
    labels, preds, labs, seconds, seconds_alone = [], [], [], 0.0, 0.0
    for i, (digit, rgba) in enumerate(pen.benchmark_samples(root, seed)):
        if limit and i >= limit:
            break
        t = time.perf_counter()
        probs = predictor.predict_proba(rgba)
        seconds += time.perf_counter() - t
        if alone is not None:
            t = time.perf_counter()
            alone.predict_proba(rgba)
            seconds_alone += time.perf_counter() - t
        labels.append(digit.label)
        labs.append(digit.lab)
        preds.append(-1 if probs is None else int(np.argmax(probs)))
    res = pen.score(labels, preds, labs)
    res["ms_per_image"] = 1000 * seconds / max(len(labels), 1)
    res["ms_one_view"] = 1000 * seconds_alone / max(len(labels), 1) if alone is not None else res["ms_per_image"]
    res["views"] = predictor.views
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir")
    ap.add_argument("--seed", type=int, default=pen.BENCH_SEED)
    ap.add_argument("--model", action="append", help="model name or checkpoint (default: every shipped model)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N drawings (a quick look)")
    ap.add_argument("--one-view", action="store_true", help="read each drawing once, without the app's views")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: one drawing at a time, as the app)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        path = pen.find(args.data_dir)
    except data.DataUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    names = args.model or [e.name for e in inference.model_entries() if e.source == "shipped"]
    print(
        f"real handwriting: UNIPEN benchmark writers ({', '.join(pen.BENCHMARK_LABS)}) from {path}, "
        f"seed {args.seed}, 280x280 canvas, through load_model(name).predict_proba"
    )
    rows = []
    for name in names:
        r = run(name, args.data_dir, args.seed, args.limit, args.one_view)
        rows.append((name, r))
        labs = "  ".join(f"{k} {100 * v:.1f}%" for k, v in r["per_lab"].items())
        digits = "  ".join(f"{k}: {100 * v:.1f}%" for k, v in r["per_digit"].items())
        conf = ", ".join(f"{t} -> {'blank' if p < 0 else p} ({n})" for t, p, n in r["confusions"])
        print(
            f"\n{name}: {100 * r['accuracy']:.2f}% of {r['digits']} drawings, "
            f"{r['ms_per_image']:.2f} ms per image in {r['views']} view(s) "
            f"({r['ms_one_view']:.2f} ms in one, interleaved)\n"
            f"  per lab:   {labs}\n  per digit: {digits}\n  most frequent confusions: {conf}",
            flush=True,
        )
    print(f"\n| model | benchmark writers | {' | '.join(pen.BENCHMARK_LABS)} | worst digit | ms/image |")
    print(f"|---|---:|{'---:|' * len(pen.BENCHMARK_LABS)}---|---:|")
    for name, r in rows:
        worst = min(r["per_digit"].items(), key=lambda kv: kv[1])
        labs = " | ".join(f"{100 * r['per_lab'][k]:.1f}%" if k in r["per_lab"] else "-" for k in pen.BENCHMARK_LABS)
        print(
            f"| {name} | {100 * r['accuracy']:.2f}% | {labs} | {worst[0]}: {100 * worst[1]:.1f}% | "
            f"{r['ms_per_image']:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
