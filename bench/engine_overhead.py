"""Engine overhead: images per second of mnist_core.training.train, per architecture and device,
against a bare loop without events, schedule, stop checks or metrics, in the same process.
It bounds what the training events (which drive the Train page's charts) cost: at most 5%.

    python bench/engine_overhead.py [--arch NAME ...] [--steps 200] [--repeats 3] [--data-dir DIR]
                                [--device auto|cpu|cuda] [--threads N]

For each architecture it times, on the real MNIST and the architecture's fast recipe:
  recipe   train() with the recipe as it is (augmentation where the recipe asks for it);
  engine   train() with augmentation off;
  bare     a plain `for` over index slices of the same in-memory tensors, with the same model,
           initial weights, memory layout, optimizer and batch size: no events, no schedule, no
           stop checks, no running metrics, no augmentation.
engine / bare is the throughput ratio (1.00 = no overhead; below 1 = the engine is slower).
Each figure is the best of --repeats runs of --steps steps (capped at one epoch, so no evaluation
falls inside the timing); a run's wall time is from its first step's preparation to the end of
its last step, with the GPU synchronised. On the CPU the ratio is also given from CPU seconds
(process time, model building included on both sides), which other processes on a shared
machine cannot inflate; with more than one torch thread it also counts threads spinning, so
use --threads 1 there. Seconds per epoch = training images / recipe images per second. With
--device auto the CPU is measured, and the GPU too when CUDA is available.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from mnist_core import data, recipes  # noqa: E402
from mnist_core.devices import resolve_device  # noqa: E402
from mnist_core.events import Event, EventKind  # noqa: E402
from mnist_core.models import ARCHS, build  # noqa: E402
from mnist_core.training import (  # noqa: E402
    TrainConfig,
    init_weights,
    make_optimizer,
    train,
    uses_channels_last,
)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_engine(cfg: TrainConfig, data_root) -> tuple[float, float]:
    """(wall seconds of train()'s cfg.max_steps steps, CPU seconds of the whole call).

    Evaluation is skipped by asking train() to stop once the last step is done.
    """
    done = {"elapsed": None}
    cpu0 = time.process_time()

    def on_event(e: Event) -> None:
        if e["type"] == EventKind.STEP and e["step"] == e["total_steps"]:
            done["elapsed"] = e["elapsed"]  # taken after loss.item(), which waits for the device

    result = train(cfg, data_root=data_root, on_event=on_event, should_stop=lambda: done["elapsed"] is not None)
    cpu = time.process_time() - cpu0
    if done["elapsed"] is None:
        raise RuntimeError(f"{cfg.arch}: the run ended early ({result.status}: {result.message})")
    return done["elapsed"], cpu


def time_bare(
    cfg: TrainConfig, images: torch.Tensor, labels: torch.Tensor, device: torch.device
) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of the same steps in a plain loop: the engine's reference.

    The CPU time, like the engine's, includes building the model.
    """
    cpu0 = time.process_time()
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = build(cfg.arch)
    init_weights(model, cfg.init)
    model.to(device).train()
    if uses_channels_last(cfg.arch, device):  # the engine's memory layout
        model.to(memory_format=torch.channels_last)
    opt = make_optimizer(cfg, model.parameters())
    bs = cfg.batch_size
    sync(device)
    t0 = time.perf_counter()
    perm = torch.randperm(len(labels), generator=gen).to(device)
    for i in range(cfg.max_steps):
        idx = perm[i * bs : (i + 1) * bs]
        x = images[idx].unsqueeze(1).float().div_(255.0).sub_(data.MEAN).div_(data.STD)
        loss = F.cross_entropy(model(x), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    loss.item()  # waits for the device, as the engine's last logged step does
    return time.perf_counter() - t0, time.process_time() - cpu0


def measure(arch: str, device: torch.device, steps: int, repeats: int, data_root) -> dict:
    train_split = data.load("mnist", train=True, root=data_root)
    n = len(train_split)
    recipe = recipes.recommended(arch, device=device.type, seed=0)
    steps = min(steps, math.ceil(n / recipe.batch_size))  # one epoch at most: no evaluation inside
    recipe = replace(recipe, max_steps=steps, log_every=steps)
    plain = replace(recipe, augment=False)
    images, labels = train_split.images.to(device), train_split.labels.to(device)

    # warm-up: caches, allocator, kernels (and grid_sample where the recipe augments)
    time_engine(replace(recipe, max_steps=min(5, steps), log_every=1), data_root)
    time_bare(replace(plain, max_steps=min(5, steps)), images, labels, device)

    best = {k: [math.inf, math.inf] for k in ("recipe", "engine", "bare")}  # [wall, cpu] seconds

    def keep(kind: str, times: tuple[float, float]) -> None:
        best[kind] = [min(a, b) for a, b in zip(best[kind], times, strict=True)]

    for _ in range(repeats):  # interleaved, so a burst of load elsewhere hits all three alike
        if recipe.augment:
            keep("recipe", time_engine(recipe, data_root))
        keep("engine", time_engine(plain, data_root))
        keep("bare", time_bare(plain, images, labels, device))
    if not recipe.augment:
        best["recipe"] = best["engine"]
    images_done = steps * recipe.batch_size
    ips = {k: images_done / v[0] for k, v in best.items()}
    return {
        "arch": arch,
        "device": device.type,
        "batch": recipe.batch_size,
        "augment": recipe.augment,
        "steps": steps,
        "recipe_ips": ips["recipe"],
        "epoch_s": n / ips["recipe"],
        "engine_ips": ips["engine"],
        "bare_ips": ips["bare"],
        "ratio": ips["engine"] / ips["bare"],
        # CPU time is what other processes on a shared machine cannot inflate (one thread only)
        "cpu_ratio": best["bare"][1] / best["engine"][1] if device.type == "cpu" else None,
        "train_images": n,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", action="append", choices=list(ARCHS), help="only these (repeatable; default: all)")
    ap.add_argument("--steps", type=int, default=200, help="training steps per timed run (capped at one epoch)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each kind; the best is shown")
    ap.add_argument("--data-dir", help="the real MNIST (default: $MNIST_DATA_DIR, else ./data)")
    ap.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="auto: the CPU, and the GPU too when CUDA is available",
    )
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own choice)")
    args = ap.parse_args()
    if args.steps < 1 or args.repeats < 1:
        ap.error("--steps and --repeats must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        n_train = len(data.load("mnist", train=True, root=args.data_dir, download=False))
        devices = [resolve_device("cpu")] if args.device != "cuda" else []
        if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()):
            devices.append(resolve_device("cuda"))
    except (data.DataUnavailable, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    cpu_name = f"{torch.get_num_threads()} torch threads"
    gpu_name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    load = f", load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores" if hasattr(os, "getloadavg") else ""
    print(
        f"training speed: MNIST train set, fast recipes, {args.steps} steps (at most one epoch), best of "
        f"{args.repeats}; torch {torch.__version__}, CPU {cpu_name}{load}, GPU {gpu_name}"
    )
    print(
        f"img/s = training images per second; s/epoch = {n_train:,} images at the recipe's speed; "
        "engine/bare = train() without augmentation vs a bare loop"
    )
    print(
        "engine/bare CPU: the same ratio from CPU seconds (on the CPU; other processes cannot inflate it, "
        "but torch's worker threads add their time, so read it with --threads 1)"
    )
    print(
        "| device | arch | batch | aug | steps | recipe img/s | s/epoch | engine img/s | bare img/s | engine/bare "
        "| engine/bare CPU |"
    )
    print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for device in devices:
        for arch in args.arch or list(ARCHS):
            r = measure(arch, device, args.steps, args.repeats, args.data_dir)
            print(
                f"| {r['device']} | {arch} | {r['batch']} | {'yes' if r['augment'] else 'no'} | {r['steps']} "
                f"| {r['recipe_ips']:,.0f} | {r['epoch_s']:.1f} | {r['engine_ips']:,.0f} | {r['bare_ips']:,.0f} "
                f"| {r['ratio']:.2f} | {'-' if r['cpu_ratio'] is None else format(r['cpu_ratio'], '.2f')} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
