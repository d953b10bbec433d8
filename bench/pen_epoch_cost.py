"""What learning every hand costs per epoch: the default model's shipped recipe against the recipe before
issue 20 (MNIST only, and for cnn 16 wide), and with the pen data at the old width, timed in one process,
interleaved.

    python bench/pen_epoch_cost.py [--data-dir DIR] [--steps 150] [--rounds 2] [--threads 2]

Each round trains `--steps` steps of each recipe from scratch (the cached pen renders are loaded
first, outside the timing) and prints milliseconds per step (timed by the run's own step clock);
an epoch's cost is that times its steps (the pen data makes an epoch longer: 60,000 MNIST digits
plus PEN_PER_EPOCH renders of 12,484 and of the PEN_AGAIN digits once more).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mnist_core import data, pen, recipes, training, trainset  # noqa: E402
from mnist_core.config import TrainConfig  # noqa: E402


def seconds_per_step(cfg: TrainConfig, root, steps: int) -> float:
    """Seconds per training step from the run's own step clock (after its first 10 steps, so
    neither start-up nor the final evaluation counts)."""
    result = training.train(replace(cfg, max_steps=steps, log_every=10), data_root=root)
    (s0, _, _, t0), (s1, _, _, t1) = result.history["steps"][0], result.history["steps"][-1]
    return (t1 - t0) / (s1 - s0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir")
    ap.add_argument("--arch", default="cnn")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    new = recipes.pretrain(args.arch)
    narrow = replace(new, width=0)  # the architecture's own width (cnn: 16)
    old = replace(narrow, pen_data=False, styles=False, ema=0.0)
    try:
        data.load("mnist", True, args.data_dir)
        n_pen = len(trainset.with_again(*pen.training_set(args.data_dir, renders=trainset.PEN_RENDERS))[1])  # cached
    except data.DataUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    compared = {"MNIST only, before": old}
    if new.width:  # the shipped recipe sets a width: the pen data at the network's own width too
        compared["pen + styles, own width"] = narrow
    compared[f"shipped (pen + styles{f', width {new.width}' if new.width else ''})"] = new
    times: dict[str, list[float]] = {k: [] for k in compared}
    for r in range(args.rounds):
        for name, cfg in compared.items():
            times[name].append(seconds_per_step(cfg, args.data_dir, args.steps))
            print(f"round {r + 1}: {name:<36} {1000 * times[name][-1]:.1f} ms/step", flush=True)
    images = {k: 60000 + (trainset.PEN_PER_EPOCH * n_pen if cfg.pen_data else 0) for k, cfg in compared.items()}
    epoch = {k: statistics.median(v) * math.ceil(images[k] / new.batch_size) for k, v in times.items()}
    base = epoch["MNIST only, before"]
    for k, v in epoch.items():
        print(
            f"{k:<36} {images[k]:>6} images/epoch  {v:6.1f} s/epoch (median of {args.rounds})  "
            f"{v / base:.2f}x per epoch"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
