"""What learning every hand costs per epoch: the default model's shipped recipe against the recipe before
the pen data (MNIST only, and for cnn 16 wide and 2 blocks deep), adding each of its parts in turn (the pen
data and styles, the width, the depth, the weights' average, the non-digits), timed in one process, interleaved.

    python bench/pen_epoch_cost.py [--data-dir DIR] [--steps 150] [--rounds 2] [--threads 2] [--clock wall|cpu]

Each round trains `--steps` steps of each recipe from scratch (the cached pen renders are loaded
first, outside the timing) and prints milliseconds per step (timed by the run's own step clock);
an epoch's cost is that times its steps (the pen data makes an epoch longer: 60,000 MNIST digits
plus PEN_PER_EPOCH renders of the training writers' digits and of the PEN_AGAIN digits once more, then
NEGATIVES_PER_EPOCH non-digits), and the whole run's that times its epochs (12 for each here: the recipe
before the pen data ran 8).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mnist_core import data, negatives_cache, pen, recipes, training, trainset  # noqa: E402
from mnist_core.config import TrainConfig  # noqa: E402


def seconds_per_step(cfg: TrainConfig, root, steps: int, clock: str = "wall") -> float:
    """Seconds per training step from the run's own step clock (after its first 10 steps, so
    neither start-up nor the final evaluation counts); clock "cpu": the process's CPU seconds over the
    same steps, read at each step event (with one thread, what other work on the machine takes from
    the wall clock does not count)."""
    cpu: list[tuple[int, float]] = []
    on_step = lambda e: cpu.append((e["step"], time.process_time())) if e["type"] == "step" else None  # noqa: E731
    result = training.train(replace(cfg, max_steps=steps, log_every=10), data_root=root, on_event=on_step)
    if clock == "cpu":
        (s0, t0), (s1, t1) = cpu[0], cpu[-1]
        return (t1 - t0) / (s1 - s0)
    (s0, _, _, t0), (s1, _, _, t1) = result.history["steps"][0], result.history["steps"][-1]
    return (t1 - t0) / (s1 - s0)


def parts(arch: str) -> dict[str, TrainConfig]:
    """The MNIST-only recipe before the pen data, then each part the shipped recipe adds, one at a time."""
    new = recipes.pretrain(arch)
    old = replace(new, width=0, depth=0, pen_data=False, styles=False, negatives=False, ema=0.0)
    steps = {"MNIST only, before": old}
    if new.styles:
        steps["+ pen data and styles"] = replace(old, pen_data=True, styles=True)
    if new.width:
        steps[f"+ width {new.width}"] = replace(steps[list(steps)[-1]], width=new.width)
    if new.depth:
        steps[f"+ depth {new.depth}"] = replace(steps[list(steps)[-1]], depth=new.depth)
    if new.ema:
        steps["+ weights' average"] = replace(steps[list(steps)[-1]], ema=new.ema)
    if new.negatives:
        steps["+ non-digits (shipped)"] = replace(steps[list(steps)[-1]], negatives=True)
    return steps


def epoch_images(cfg: TrainConfig, n_pen: dict, n_neg: int) -> int:
    """Images in one epoch of the recipe (trainset.TrainingData's length with the full data); n_pen: the pen
    digits, without and with what a run with non-digits leaves out (trainset.pen_left_out)."""
    images = 60000 + (trainset.PEN_PER_EPOCH * n_pen[cfg.negatives] if cfg.pen_data else 0)
    return images + (min(trainset.NEGATIVES_PER_EPOCH, n_neg) if cfg.negatives else 0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir")
    ap.add_argument("--arch", default="cnn")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="cpu: CPU seconds (use one thread)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    compared = parts(args.arch)
    try:
        data.load("mnist", True, args.data_dir)
        images, labels = pen.training_set(args.data_dir, renders=trainset.PEN_RENDERS)  # cached
        held, flat = trainset.pen_left_out(pen.split(pen.load(args.data_dir))[0])
        kept = ~(held | flat)
        n_pen = {
            False: len(trainset.with_again(images, labels)[1]),
            True: len(trainset.with_again(images[:, kept], labels[kept])[1]),
        }
        n_neg = len(negatives_cache.training_set(args.data_dir)) if recipes.pretrain(args.arch).negatives else 0
    except data.DataUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    times: dict[str, list[float]] = {k: [] for k in compared}
    for r in range(args.rounds):
        for name, cfg in compared.items():
            times[name].append(seconds_per_step(cfg, args.data_dir, args.steps, args.clock))
            print(f"round {r + 1}: {name:<28} {1000 * times[name][-1]:.1f} ms/step", flush=True)
    epoch = {
        k: statistics.median(v) * math.ceil(epoch_images(compared[k], n_pen, n_neg) / compared[k].batch_size)
        for k, v in times.items()
    }
    base, before = epoch["MNIST only, before"], None
    for k, v in epoch.items():
        step = statistics.median(times[k]) / statistics.median(times["MNIST only, before"])
        ms = 1000 * statistics.median(times[k])
        print(
            f"{k:<28} {epoch_images(compared[k], n_pen, n_neg):>6} images/epoch  {ms:6.1f} ms/step ({step:.2f}x)  "
            f"  {v:6.1f} s/epoch  {v / base:.2f}x per epoch"
            + (f" ({v / before:.2f}x the line above)" if before else "")
            + f"  whole run: {compared[k].epochs} epochs, {v * compared[k].epochs / 60:.1f} min"
        )
        before = v
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    print(f"load: {load} (1, 5, 15 min), {args.threads} threads, {args.clock} clock")
    return 0


if __name__ == "__main__":
    sys.exit(main())
