"""Teach it your handwriting, as a user would: one real writer's digits, kept, fine-tuned on, measured.

    MNIST_DATA_DIR=../shared/data python bench/finetune_writer.py [--writer kast] [--per-digit 20] [--model cnn]

One writer of UNIPEN's benchmark labs (never trained on by the shipped models; default gmd's "kast",
a German writer with 928 digits) draws `--per-digit` digits of each kind on the 280x280 canvas (their
pen strokes drawn as the Draw page's canvas holds them, seed 0). Each drawing goes through the public
API as the Draw page sends it: `preprocess` to the 28x28 input, then `DrawingStore.add` into a
collection (in a temporary runs folder: a user's own store is never touched); each save is timed.
Then the model is fine-tuned on that collection (`recipes.finetune`: the app's Digits-page job)
and measured before and after on
  - the collection's held-out part (every fifth drawing of each digit, never trained on),
  - the writer's other digits (all those not kept; a larger sample of the same hand),
  - MNIST's 10,000 test digits.
Targets (issue 17): the writer's held-out errors at least halved, MNIST test accuracy down by at most
0.2 points, fine-tuning under 30 s on 2 CPU cores, a save under 20 ms.

Measured on the shipped cnn (24 wide, its weights averaged; seeds 0, 1, 2 of `--seed`): val01's other digits 11
errors -> 2, 1, 2 (held-out part 3 -> 0, 1, 0; MNIST 99.30% -> 99.35, 99.26, 99.39%); kast 1 -> 1, 1, 1 (it
already reads this writer; MNIST 99.35, 99.34, 99.31%); val02, not tuned on, 11 -> 11, 10, 10 (MNIST 99.34,
99.30, 99.34%). That is without label smoothing; with the 0.05 the recipe had before: val01 11 -> 6, 5, 8, kast
1 -> 1, 2, 2, val02 11 -> 9, 10, 11, MNIST 0.02-0.18 points lower at each (lenet on val01: 25 -> 5, 5, 5
without, 8, 8, 10 with; convnet 22 -> 8, 8, 9 without, 9, 10, 9 with). Averaging the weights (`--ema 0.99`) did
not help (val01 11 -> 8, 5, 8 with smoothing). On the cnn shipped before it (24 wide, last weights; smoothing
0.05): kast 2 -> 1, 2, 2, val01 10 -> 6, 4, 4. The learning rate, 2e-3, was chosen on val01 from 5e-4 (10 -> 8;
kast 2 -> 3), 1e-3, 3e-3 and 5e-3; on val02, not chosen on, it gives 11 -> 9, 10 (seeds 0, 1) against 10, 9 at
5e-4, and MNIST +0.03 points against -0.03. lenet and convnet gain from it too (val01's other digits: lenet 25
-> 8 errors against 10 at 5e-4, convnet 22 -> 9 against 13). On the 16-wide cnn before issue 20 the recipe (then
5e-4) took kast's 12 errors to 4, 2, 4; before distillation (a tenth of the images the writer's, label smoothing
0.1) it left 8 errors and lost 0.26 points. Distillation costs a forward pass of the starting model on half of
each batch: 1.13x the step's time on one thread (on a busy machine, where the bench's wall time means little,
1.4x on two).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mnist_core import data, devices, evaluation, inference, pen, preprocess, recipes, settings, training  # noqa: E402
from mnist_core.drawings import DrawingStore  # noqa: E402
from mnist_core.events import RunStatus  # noqa: E402


def accuracy(model: torch.nn.Module, x28: np.ndarray, labels: np.ndarray) -> float:
    split = data.Split(torch.from_numpy((x28 * 255 + 0.5).astype(np.uint8)), torch.from_numpy(labels))
    return evaluation.loss_and_accuracy(model, split)[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--writer", default="kast", help="a writer of UNIPEN's benchmark labs (default: gmd's kast)")
    ap.add_argument("--per-digit", type=int, default=20)
    ap.add_argument("--model", default="cnn", help="the model to start from (default: the shipped cnn)")
    ap.add_argument("--data-dir")
    ap.add_argument("--lr", type=float, help="override the fine-tuning recipe's learning rate")
    ap.add_argument("--steps", type=int, help="override the recipe's steps")
    ap.add_argument("--no-augment", action="store_true", help="fine-tune without augmentation")
    ap.add_argument("--distill", type=float, help="override the recipe's distillation weight (0: none)")
    ap.add_argument("--label-smoothing", type=float, help="override the recipe's label smoothing")
    ap.add_argument("--ema", type=float, help="override the recipe's weight averaging (0: none)")
    ap.add_argument("--seed", type=int, default=0, help="the fine-tuning run's seed (the drawings stay seed 0)")
    args = ap.parse_args()
    torch.set_num_threads(settings.torch_threads())  # as the app's server runs it
    if not data.is_available("mnist", args.data_dir) or not pen.is_available(args.data_dir):
        print("error: needs MNIST and UNIPEN in the data folder (--data-dir, else $MNIST_DATA_DIR)", file=sys.stderr)
        return 2
    mine = [d for d in pen.load(args.data_dir) if d.benchmark and d.writer == args.writer]
    if not mine:
        print(f"error: no benchmark writer {args.writer!r}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(0)
    inputs = [preprocess(pen.render(d, rng)) for d in mine]  # as the Draw page reads each canvas
    keep = {k: [i for i, d in enumerate(mine) if d.label == k][: args.per_digit] for k in range(10)}
    kept = sorted(i for v in keep.values() for i in v)
    others = [i for i in range(len(mine)) if i not in set(kept) and inputs[i] is not None]
    start = inference.load_model(args.model)
    print(
        f"writer {args.writer} (lab {mine[0].lab}): {len(mine)} digits; keeping {len(kept)} "
        f"({args.per_digit} of each), {len(others)} others; starting from {args.model} ({start.path})"
    )

    with tempfile.TemporaryDirectory() as runs:
        os.environ["MNIST_RUNS_DIR"] = runs
        store, saves = DrawingStore(), []
        for i in kept:
            predicted = int(start.proba_batch(inputs[i][None])[0].argmax())
            t = time.perf_counter()
            store.add("writer", mine[i].label, inputs[i], model=args.model, predicted=predicted, by=None)
            saves.append(1000 * (time.perf_counter() - t))
        print(
            f"save a drawing: median {np.median(saves):.2f} ms, p95 {np.percentile(saves, 95):.2f} ms, "
            f"max {max(saves):.2f} ms over {len(saves)} (target: under 20 ms)"
        )
        _, held = store.split("writer")
        held_x, held_y = np.stack([d.x28 / 255.0 for d in held]), np.array([d.digit for d in held])
        other_x = np.stack([inputs[i] for i in others])
        other_y = np.array([mine[i].label for i in others])

        overrides = {
            k: v
            for k, v in (
                ("lr", args.lr),
                ("max_steps", args.steps),
                ("distill", args.distill),
                ("label_smoothing", args.label_smoothing),
                ("ema", args.ema),
                ("seed", args.seed),
            )
            if v is not None
        }
        if args.no_augment:
            overrides["augment"] = False
        cfg = recipes.finetune(str(start.path), start.arch, "writer", **overrides)
        t, cpu = time.perf_counter(), time.process_time()
        result = training.train(cfg, data_root=args.data_dir)
        seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
        if result.status != RunStatus.FINISHED:
            print(f"error: fine-tuning {result.status}: {result.message}", file=sys.stderr)
            return 1
        seen = result.data_seen["collection"]

    before = {
        "held": accuracy(start.model, held_x, held_y),
        "other": accuracy(start.model, other_x, other_y),
        "mnist": seen["mnist_before"],
    }
    after = {
        "held": accuracy(result.model, held_x, held_y),
        "other": accuracy(result.model, other_x, other_y),
        "mnist": result.test_accuracy,
    }
    assert abs(after["held"] - seen["held_out_after"]) < 1e-9  # the job's own measure agrees
    print(
        f"fine-tuning: {seconds:.1f} s for {cfg.max_steps} steps (batch {cfg.batch_size}), {cpu:.1f} s of CPU "
        f"time on {torch.get_num_threads()} threads, load {devices.machine_load()['load_1min']} "
        f"(target: under 30 s on 2 CPU cores; a busy machine's wall time is longer)"
    )
    print("| measure | before | after | errors before -> after |")
    print("|---|---:|---:|---:|")
    for key, label, n in (
        ("held", f"the collection's held-out part ({len(held_y)})", len(held_y)),
        ("other", f"the writer's other digits ({len(other_y)})", len(other_y)),
        ("mnist", "MNIST test (10,000)", 10_000),
    ):
        b, a = before[key], after[key]
        print(f"| {label} | {b:.2%} | {a:.2%} | {round((1 - b) * n)} -> {round((1 - a) * n)} |")
    halved = (1 - after["other"]) <= (1 - before["other"]) / 2 and (1 - after["held"]) <= (1 - before["held"]) / 2
    mnist_ok = before["mnist"] - after["mnist"] <= 0.002
    print(
        f"targets: errors halved {'met' if halved else 'NOT met'}; MNIST within 0.2 points "
        f"{'met' if mnist_ok else 'NOT met'} ({100 * (after['mnist'] - before['mnist']):+.2f}); under 30 s "
        f"{'met' if seconds < 30 else 'NOT met'}; save under 20 ms {'met' if max(saves) < 20 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
