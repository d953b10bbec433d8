"""What the Train page's live charts cost the training loop (issue 4: at most 5%).

    python bench/event_overhead.py [--arch NAME ...] [--steps 300] [--repeats 3] [--data-dir DIR] [--threads 1]

For each architecture's fast recipe (augmentation off, so the figure is not lost in its noise),
the same steps of mnist_core.training.train are timed two ways, interleaved, in one process:
  events     as a Train-page job runs: a step event every `log_every` steps (the loss read back
             from the device) into a jobs.Job, whose lock-guarded lists feed the charts;
  no events  no callback, and the loss never read back during the epoch.
Each figure is the best of --repeats runs; a run stops right after its last step, before any
evaluation. The ratio is events / no events in images per second (1.00 = free; the target is
at least 0.95), from wall time and from CPU time (which other processes cannot inflate).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from mnist_core import data, jobs, recipes  # noqa: E402
from mnist_core.config import TrainConfig  # noqa: E402
from mnist_core.models import ARCHS  # noqa: E402
from mnist_core.training import train  # noqa: E402


def timed(cfg: TrainConfig, root, with_events: bool) -> tuple[float, float]:
    """(wall, CPU) seconds of cfg.max_steps training steps."""
    job = jobs.Job("bench", "bench", cfg, Path(tempfile.gettempdir()) / "event_overhead.pt") if with_events else None
    steps = {"n": 0}
    last = cfg.max_steps

    def should_stop() -> bool:  # called before each step: stop once the last one is done
        steps["n"] += 1
        return steps["n"] > last

    w0, c0 = time.perf_counter(), time.process_time()
    train(cfg, data_root=root, on_event=job.record if job else None, should_stop=should_stop)
    return time.perf_counter() - w0, time.process_time() - c0


def measure(arch: str, steps: int, repeats: int, root) -> dict:
    n = len(data.load("mnist", train=True, root=root))
    recipe = recipes.recommended(arch, device="cpu", augment=False, seed=0)
    steps = min(steps, math.ceil(n / recipe.batch_size) - 1)  # within one epoch: no evaluation
    with_ev = replace(recipe, max_steps=steps + 1)
    without = replace(with_ev, log_every=10**6)  # the loss is never read back mid-epoch
    timed(replace(with_ev, max_steps=6), root, True)  # warm-up
    best = {True: [math.inf, math.inf], False: [math.inf, math.inf]}
    for _ in range(repeats):
        for flag, cfg in ((True, with_ev), (False, without)):
            wall, cpu = timed(cfg, root, flag)
            best[flag] = [min(best[flag][0], wall), min(best[flag][1], cpu)]
    return {
        "arch": arch,
        "batch": recipe.batch_size,
        "log_every": recipe.log_every,
        "steps": steps,
        "ips_events": steps * recipe.batch_size / best[True][0],
        "ips_none": steps * recipe.batch_size / best[False][0],
        "ratio": best[False][0] / best[True][0],
        "cpu_ratio": best[False][1] / best[True][1],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", action="append", choices=list(ARCHS), help="repeatable (default: cnn, convnet, mlp)")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data-dir", help="the real MNIST (default: $MNIST_DATA_DIR, else ./data)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: steady timings)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    try:
        root = data.data_dir(args.data_dir)
        data.load("mnist", train=True, root=root, download=False)
    except data.DataUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"event overhead: torch {torch.__version__}, {args.threads} thread(s), best of {args.repeats}")
    print("| arch | batch | log every | steps | img/s with events | img/s without | ratio (wall) | ratio (CPU) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for arch in args.arch or ["cnn", "convnet", "mlp"]:
        r = measure(arch, args.steps, args.repeats, root)
        print(
            f"| {arch} | {r['batch']} | {r['log_every']} | {r['steps']} | {r['ips_events']:,.0f} "
            f"| {r['ips_none']:,.0f} | {r['ratio']:.3f} | {r['cpu_ratio']:.3f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
