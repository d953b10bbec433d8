"""The Train page's quick first run, as the app runs it: how soon its first curve point comes, how long
the run takes, and what it reaches.

    python bench/quick_run.py [--data-dir DIR] [--arch cnn] [--seeds 0 1 2] [--json PATH]

Each seed is one run of recipes.quick(arch) (the recipe the Train page opens on) submitted to a
mnist_core.jobs.JobRunner in this process, with torch's threads set as the app's server sets them
(settings.torch_threads()). It prints, per run: seconds from Start to the first logged step (the first
point of the loss curve), seconds of training (the run's own train_seconds: the epoch, its evaluation
and the checkpoint), its test accuracy; then the medians, and the machine (cores, 1-minute load before
and after). The README quotes its median. Figures depend on the machine's load: quote them with it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def one_run(runner, arch: str, seed: int, data_dir: str | None, limit: int) -> dict:
    """Submit the quick recipe (seed) and watch it: Start to first curve point, training time, accuracy."""
    from mnist_core import recipes

    cfg = recipes.quick(arch, seed=seed, train_limit=limit)
    t0 = time.monotonic()
    job = runner.submit(cfg, f"{arch}-quick-{seed}", data_root=data_dir)
    first = None
    while not job.wait(0.05):
        if first is None and job.snapshot()["steps"]:
            first = time.monotonic() - t0
    s = job.snapshot()
    if first is None and s["steps"]:  # the whole run within one poll
        first = time.monotonic() - t0
    metrics = s.get("metrics") or {}
    return {
        "seed": seed,
        "status": str(s["status"]),
        "first_point_s": first,
        "total_s": time.monotonic() - t0,
        "train_seconds": metrics.get("train_seconds", s.get("elapsed")),
        "test_accuracy": s["test_accuracy"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="default: $MNIST_DATA_DIR, else ./data")
    parser.add_argument("--arch", default="cnn")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--train-limit", type=int, default=0, help="training images (0: all, as the page)")
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args(argv)

    import torch

    from mnist_core import jobs, settings

    torch.set_num_threads(settings.torch_threads())
    load_before = os.getloadavg()[0]
    runner = jobs.JobRunner(tempfile.mkdtemp(prefix="quick-run-"), download=False)
    rows = []
    try:
        for seed in args.seeds:
            row = one_run(runner, args.arch, seed, args.data_dir, args.train_limit)
            rows.append(row)
            acc = f"{row['test_accuracy']:.2%}" if row["test_accuracy"] is not None else "none"
            first = f"{row['first_point_s']:.1f} s" if row["first_point_s"] is not None else "none"
            print(
                f"seed {seed}: {row['status']}, first curve point after {first}, "
                f"{row['total_s']:.1f} s from Start to the end, test accuracy {acc}",
                flush=True,
            )
    finally:
        runner.close()
    done = [r for r in rows if r["test_accuracy"] is not None]
    if done:
        print(
            f"median of {len(done)}: first curve point {statistics.median(r['first_point_s'] for r in done):.1f} s, "
            f"Start to the end {statistics.median(r['total_s'] for r in done):.1f} s, "
            f"test accuracy {statistics.median(r['test_accuracy'] for r in done):.2%}"
        )
    print(
        f"machine: {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, "
        f"1-minute load {load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0 if done and len(done) == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
