"""The training loop: batches sliced from in-memory tensors, optimizers, schedules, events.

`train(config, on_event=..., should_stop=...)` runs one training run and returns a TrainResult.
It never touches a UI: progress goes out as plain dict events (events.Event) through `on_event`, and a
stop is asked for through `should_stop`, checked between steps (and between evaluation batches).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from . import checkpoints, data, devices, pen
from .augment import augment_batch, style_batch
from .evaluation import Stopped, loss_and_accuracy
from .events import SAVED, EndEvent, EpochEvent, Event, EventKind, RunStatus, StartEvent, StepEvent
from .models import ARCHS, build, checked_args, get_arch

OPTIMIZERS = ("sgd", "sgd_momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "adadelta")
USES_MOMENTUM = ("sgd_momentum", "nesterov", "rmsprop")  # the optimizers that read TrainConfig.momentum
SCHEDULES = ("constant", "step", "onecycle")
INITS = ("default", "normal", "he", "xavier")
PEN_RENDERS = 4  # cached renders of each pen-drawn digit, taken in turn
# what a run with `styles` saw, recorded in its checkpoint (augment.style_batch on MNIST, pen.add_style on pen renders)
STYLES_SEEN = ("slashed 0, crossed 7, flagged 1 (a hook to a long flag; and foot), curled 9; "
               "on pen renders also a floating-bar 5 and a small-headed 9")
PEN_PER_EPOCH = 2  # renders of each pen-drawn digit in one epoch (2: 97.2% against 96.5% with 1, cnn 3 epochs)
# pen-drawn digits that come once more in each epoch, from the renders the epoch does not use: the 1s, whose
# flags read as 7s (cnn 12 epochs: the benchmark writers' 1s 96.8% with them, 95.4% without; README)
PEN_AGAIN = (1,)
# fine-tuning: the user's drawings, repeated (and augmented), make this share of the images; with distillation
# keeping MNIST, half the batch can be the user's (bench/finetune_writer.py: 4-5 errors left of 12 at 0.5, 5-6 at 0.25)
COLLECTION_SHARE = 0.5


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. Validated on construction."""

    arch: str = "cnn"  # a registry key (models.ARCHS)
    dataset: str = "mnist"  # "mnist" or "fashion"
    optimizer: str = "adam"  # one of OPTIMIZERS
    lr: float = 1e-3  # peak learning rate (one-cycle) or starting rate
    momentum: float = 0.9  # for sgd_momentum, nesterov and rmsprop
    weight_decay: float = 0.0
    label_smoothing: float = 0.0  # training targets (1 - s) on the label, s spread over all ten classes
    schedule: str = "constant"  # constant; step (x0.1 at 50% and 75% of steps); onecycle
    batch_size: int = 128
    epochs: int = 1
    init: str = "default"  # default (PyTorch's), normal (std 0.01), he, xavier
    augment: bool = False  # random affine, elastic warp and stroke thickness per image
    pen_data: bool = False  # mix UNIPEN's training writers' pen-drawn digits into the MNIST batches
    styles: bool = False  # add the world's writing styles (STYLES_SEEN)
    width: int = 0  # 0 = the architecture's own; else the channels of its first block (cnn's arg_ranges)
    ema: float = 0.0  # 0 = off; else the decay of a moving average of the weights, which is what is evaluated and kept
    seed: int = 0
    device: str = "auto"  # auto = cuda, else mps, else cpu
    max_steps: int = 0  # 0 = no limit; a test-sized run stops after this many steps
    train_limit: int = 0  # 0 = every training image; else only the first N (quick runs)
    log_every: int = 10  # a "step" event every this many steps
    init_from: str = ""  # fine-tuning: start from this checkpoint (a model name or path) instead of new weights
    collection: str = ""  # fine-tuning: mix the training part of this collection of the user's drawings in
    distill: float = 0.0  # fine-tuning: weight of a KL term to the starting model's outputs on the images
    # that are not the collection's (MNIST, pen): it learns the user's digits and keeps reading the rest as before

    def __post_init__(self) -> None:
        def check(ok: bool, msg: str) -> None:
            if not ok:
                raise ValueError(msg)

        check(self.arch in ARCHS, f"unknown architecture {self.arch!r}; choose from {', '.join(ARCHS)}")
        check(self.dataset in data.DATASETS, f"unknown dataset {self.dataset!r}")
        check(self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}")
        check(self.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}")
        check(self.init in INITS, f"init must be one of {', '.join(INITS)}")
        check(self.device in devices.NAMES, f"device must be one of {', '.join(devices.NAMES)}")
        # bool is an int subclass: True must not pass as a batch size or a learning rate of 1
        is_int = lambda v: isinstance(v, int) and not isinstance(v, bool)
        is_num = lambda v: is_int(v) or isinstance(v, float)
        check(is_num(self.lr) and 0 < self.lr <= 10 and math.isfinite(self.lr), "learning rate must be in (0, 10]")
        check(is_num(self.momentum) and 0 <= self.momentum < 1, "momentum must be in [0, 1)")
        check(is_num(self.weight_decay) and 0 <= self.weight_decay <= 1, "weight decay must be in [0, 1]")
        check(is_num(self.label_smoothing) and 0 <= self.label_smoothing < 1, "label smoothing must be in [0, 1)")
        check(is_int(self.batch_size) and 1 <= self.batch_size <= 8192, "batch size must be an integer in 1..8192")
        check(is_int(self.epochs) and 1 <= self.epochs <= 1000, "epochs must be in 1..1000")
        check(is_int(self.seed) and 0 <= self.seed < 2**63, "seed must be a non-negative integer")
        check(is_int(self.max_steps) and self.max_steps >= 0, "max_steps must be >= 0")
        check(is_int(self.train_limit) and self.train_limit >= 0, "train_limit must be >= 0")
        check(is_int(self.log_every) and self.log_every >= 1, "log_every must be >= 1")
        check(isinstance(self.pen_data, bool) and isinstance(self.styles, bool), "pen_data and styles are on or off")
        check(not (self.pen_data or self.styles) or self.dataset == "mnist",
              "pen-drawn digits and writing styles are digits: they need the mnist dataset")
        check(isinstance(self.init_from, str) and len(self.init_from) <= 1000, "init_from is a model name or path")
        check(isinstance(self.collection, str) and len(self.collection) <= 64, "collection is a collection's name")
        check(not self.collection or self.dataset == "mnist", "a collection of drawn digits needs the mnist dataset")
        check(is_num(self.distill) and 0 <= self.distill <= 100, "distill must be in [0, 100]")
        check(is_num(self.ema) and 0 <= self.ema < 1, "ema (the weights' averaging decay) must be in [0, 1)")
        checked_args(self.arch, self.arch_args)  # ValueError naming the range, or that the arch takes none
        check(not self.distill or self.init_from, "distill keeps a starting model's outputs: it needs init_from")

    @property
    def arch_args(self) -> dict:
        """The builder arguments this run sets (models.build): {} for the architecture's own."""
        return {"width": self.width} if self.width != 0 else {}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def recommended_config(arch: str, fast: bool = True, **overrides) -> TrainConfig:
    """The architecture's recipe (its fast one by default, else the tutorial's), with overrides."""
    a = get_arch(arch)
    return replace(TrainConfig(arch=arch, **(a.fast_recipe if fast else a.tutorial_recipe)), **overrides)


def finetune_config(init_from: str, arch: str, collection: str, **overrides) -> TrainConfig:
    """Fine-tune the model `init_from` (its architecture `arch`) on a collection of the user's drawings
    mixed with MNIST: a few hundred steps, a learning rate a fifth of cnn's own recipe's, augmented, the
    drawings half of the images (COLLECTION_SHARE), and distilled: on the MNIST images it keeps the
    starting model's outputs, so it learns the user's styles without forgetting MNIST's (every fifth
    drawing of each digit is held out to measure it). No label smoothing: against the starting model's
    own sharp answers it held back what the drawings teach (val01: 11 errors -> 6, 5, 8 with 0.05;
    2, 1, 2 without). Measured on bench/finetune_writer.py (one UNIPEN
    benchmark writer): see its docstring."""
    return TrainConfig(**{"arch": arch, "init_from": init_from, "collection": collection, "optimizer": "adam",
                          "lr": 2e-3, "schedule": "onecycle", "batch_size": 64, "epochs": 1, "max_steps": 300,
                          "augment": True, "distill": 1.0, "log_every": 5, **overrides})


def with_again(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pen renders (R, N, 28, 28) and labels (N,) with the PEN_AGAIN digits appended once more, their
    renders rolled by PEN_PER_EPOCH: an epoch, which takes PEN_PER_EPOCH renders of each, then sees those
    digits in the renders it leaves out of the first copies."""
    again = np.flatnonzero(np.isin(labels, PEN_AGAIN))
    return (np.concatenate([images, np.roll(images[:, again], PEN_PER_EPOCH, axis=0)], 1),
            np.concatenate([labels, labels[again]]))


def quick_config(arch: str, **overrides) -> TrainConfig:
    """A first run: done in under a minute on a laptop CPU, its curves moving from the first steps (the
    Train page opens on it). One epoch without augmentation; for cnn its tuned one-epoch recipe (99.1-99.3%
    in about 20 s on 2 cores), which cnn, having no tutorial, keeps in its tutorial_recipe slot."""
    if arch == "cnn":
        return recommended_config(arch, fast=False, **overrides)
    return recommended_config(arch, **{"epochs": 1, "augment": False, **overrides})


def uses_channels_last(arch: str, device: torch.device) -> bool:
    """Whether train() runs this registry architecture in channels-last layout on this device."""
    return device.type == "cpu" and get_arch(arch).channels_last


@dataclass
class TrainResult:
    """What a run leaves: the model (on the CPU, eval mode), its status and its history."""

    config: TrainConfig
    model: nn.Module
    status: RunStatus  # finished, stopped or diverged
    message: str
    history: dict = field(default_factory=dict)  # steps: [[step, epoch, loss, seconds]], epochs: [...]
    test_accuracy: float | None = None
    train_seconds: float = 0.0
    device: str = "cpu"
    data_seen: dict = field(default_factory=dict)  # which training data, how many images of each

    def save(self, path, name: str | None = None, extra: dict | None = None):
        """Write the checkpoint (refused for a run with nothing usable to save)."""
        if not self.usable:
            raise ValueError(f"not saving a {self.status} run with no evaluated model: {self.message}")
        metrics = {"test_accuracy": self.test_accuracy, "train_seconds": round(self.train_seconds, 3),
                   "status": RunStatus(self.status).value, "device": self.device,  # plain str: loading refuses enums
                   "epochs_done": self.history["epochs"][-1]["epoch"], **devices.machine_load()}
        extra = {"data_seen": self.data_seen, **(extra or {})}
        return checkpoints.save(path, self.model, self.config.arch, self.config.to_dict(), self.history,
                                metrics, name=name, extra=extra)

    @property
    def usable(self) -> bool:
        """A model worth saving: it trained without diverging and was evaluated."""
        return self.status in SAVED and self.test_accuracy is not None


def init_weights(model: nn.Module, scheme: str) -> None:
    if scheme == "default":
        return
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            if scheme == "normal":
                nn.init.normal_(m.weight, 0.0, 0.01)
            elif scheme == "he":
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            elif scheme == "xavier":
                nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def make_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    o, lr, wd = cfg.optimizer, cfg.lr, cfg.weight_decay
    if o == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd)
    if o in ("sgd_momentum", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, nesterov=o == "nesterov", weight_decay=wd)
    if o == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=wd)
    if o == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=cfg.momentum, weight_decay=wd)
    if o == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if o == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd or 0.01)
    return torch.optim.Adadelta(params, lr=lr, weight_decay=wd)


def make_schedule(cfg: TrainConfig, opt: torch.optim.Optimizer, total_steps: int):
    """A per-step learning-rate schedule."""
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=max(total_steps, 2))
    if cfg.schedule == "step":
        marks = [int(total_steps * 0.5), int(total_steps * 0.75)]
        return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=marks, gamma=0.1)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)


def train(
    config: TrainConfig,
    data_root=None,
    on_event: Callable[[Event], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    model: nn.Module | None = None,
) -> TrainResult:
    """Train one model. Events (events.Event): {"type": "start" | "step" | "epoch" | "end", ...}.

    `model`, when given, is trained instead of a new `config.arch` (a benchmark's own network);
    the config still sets the optimizer, schedule, batches and seed, and init "default" keeps its weights.

    Returns with status "finished", "stopped" (between steps, or during evaluation) or
    "diverged" (a non-finite loss: the message names the step; the model is not usable).
    Deterministic for a given seed on the CPU.
    """
    emit = on_event or (lambda e: None)
    stop = should_stop or (lambda: False)
    device = devices.resolve_device(config.device)
    train_split = data.load(config.dataset, train=True, root=data_root)
    test_split = data.load(config.dataset, train=False, root=data_root)
    images, labels = train_split.images, train_split.labels
    if config.train_limit:
        images, labels = images[: config.train_limit], labels[: config.train_limit]
    images, labels = images.to(device), labels.to(device)  # the whole set once: 47 MB
    data_seen = {config.dataset: len(labels)}
    pen_images = pen_labels = None
    if config.pen_data:  # rendered once and cached: (renders, N, 28, 28) uint8; one render per epoch
        pimg, plab = pen.training_set(data_root, renders=PEN_RENDERS, seed=0)
        keep = len(plab) if not config.train_limit else min(len(plab), max(1, config.train_limit // 5))
        pimg, plab = with_again(pimg[:, :keep], plab[:keep])
        pen_images, pen_labels = torch.from_numpy(pimg).to(device), torch.from_numpy(plab).to(device)
        data_seen["unipen_training_writers"] = keep
        data_seen["unipen_again"] = {"digits": list(PEN_AGAIN), "images": len(plab) - keep}
        data_seen["unipen_benchmark_labs_left_out"] = list(pen.BENCHMARK_LABS)
    if config.styles:
        data_seen["styles"] = STYLES_SEEN
    held_out, mine_rows = None, (0, 0)  # mine_rows: [start, end) of the collection's rows in `images`
    if config.collection:  # fine-tuning: the user's drawings (training part), repeated to a share of the set
        from . import drawings

        store = drawings.DrawingStore()
        if problem := drawings.finetune_problem(store, config.collection):
            raise ValueError(f"cannot fine-tune on {config.collection!r}: {problem}")
        part, held = store.split(config.collection)
        mine_x, mine_y = (torch.from_numpy(a).to(device) for a in drawings.arrays(part))
        reps = max(1, round(COLLECTION_SHARE / (1 - COLLECTION_SHARE) * len(labels) / len(mine_y)))
        mine_rows = (len(labels), len(labels) + reps * len(mine_y))
        images, labels = torch.cat([images, mine_x.repeat(reps, 1, 1)]), torch.cat([labels, mine_y.repeat(reps)])
        held_out = data.Split(*(torch.from_numpy(a) for a in drawings.arrays(held))) if held else None
        data_seen["collection"] = {"name": config.collection, "drawings": len(mine_y), "held_out": len(held),
                                   "repeats": reps}

    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    channels_last = model is None and uses_channels_last(config.arch, device)
    if model is None and config.init_from:  # fine-tuning: its weights are the start ("default" init keeps them)
        from . import inference

        model, meta = checkpoints.load(inference.resolve(config.init_from))
        if meta["arch"] != config.arch:
            raise ValueError(f"{config.init_from} is a {meta['arch']}, not a {config.arch}")
    if model is None:
        model = build(config.arch, config.arch_args)
    init_weights(model, config.init)
    if config.collection:  # before: the starting model on the held-out drawings and on MNIST's test set
        model.to(device)
        data_seen["collection"]["mnist_before"] = loss_and_accuracy(model, test_split, device)[1]
        data_seen["collection"]["held_out_before"] = loss_and_accuracy(model, held_out, device)[1] if held_out else None
    model.to(device)
    if channels_last:  # oneDNN's convolutions: one epoch 15-38% faster for the four conv nets on 2 cores
        model.to(memory_format=torch.channels_last)
    # fine-tuning's distillation target: the starting model, frozen (batch-norm in eval mode, as the student's)
    teacher = copy.deepcopy(model).eval().requires_grad_(False) if config.distill else None
    opt = make_optimizer(config, model.parameters())
    n = len(labels) + (PEN_PER_EPOCH * len(pen_labels) if pen_labels is not None else 0)
    steps_per_epoch = math.ceil(n / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)
    sched = make_schedule(config, opt, total_steps)
    # the weights' moving average (torch's own), batch-norm statistics included: what is evaluated and kept. Its
    # span, 1 / (1 - decay) steps, is at most a fifth of the run, so a short run's average is not its start's
    # (the first weights count e^-5 < 1%); cnn's 12-epoch recipe keeps its 0.999
    decay = max(0.0, min(config.ema, 1 - 5 / max(total_steps, 1)))
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True) if config.ema else None
    scored = ema.module if ema is not None else model

    # step_accuracy: [[step, epoch, the epoch's running training accuracy so far]] (the live chart moves from step 1)
    history: dict = {"steps": [], "epochs": [], "step_accuracy": []}
    evaluated = None  # (step, weights) at the last evaluation
    status, message = RunStatus.FINISHED, ""
    step, t0 = 0, time.perf_counter()
    emit(StartEvent(type=EventKind.START, total_steps=total_steps, steps_per_epoch=steps_per_epoch,
                    epochs=config.epochs, device=str(device), train_images=n))

    def seconds() -> float:
        return time.perf_counter() - t0

    try:
        for epoch in range(config.epochs):
            if step >= total_steps:
                break
            model.train()
            if config.init_from:  # fine-tuning: batch-norm keeps the statistics it learned (a small mix moves them)
                for m in model.modules():
                    if isinstance(m, nn.modules.batchnorm._BatchNorm):
                        m.eval()
            if pen_images is not None:  # this epoch's batches: MNIST and PEN_PER_EPOCH renders of each pen digit
                picks = [(epoch * PEN_PER_EPOCH + j) % len(pen_images) for j in range(PEN_PER_EPOCH)]
                images_e = torch.cat([images, *pen_images[picks]])
                labels_e = torch.cat([labels, *[pen_labels] * PEN_PER_EPOCH])
            else:
                images_e, labels_e = images, labels
            perm = torch.randperm(n, generator=gen).to(device)
            correct = torch.zeros((), dtype=torch.long, device=device)
            seen, loss_sum = 0, torch.zeros((), device=device)
            for i in range(steps_per_epoch):
                if step >= total_steps:
                    break
                if stop():
                    raise Stopped
                idx = perm[i * config.batch_size : (i + 1) * config.batch_size]
                x = images_e[idx].unsqueeze(1).float().div_(255.0)  # (B, 1, 28, 28) in [0, 1]
                y = labels_e[idx]
                if config.styles:
                    x = style_batch(x, y, gen)
                if config.augment:
                    x = augment_batch(x, gen)
                x = x.sub_(data.MEAN).div_(data.STD)
                logits = model(x)
                loss = F.cross_entropy(logits, y, label_smoothing=config.label_smoothing)
                if teacher is not None:  # KL(starting model || model) on the rows not from the collection
                    rest = (idx < mine_rows[0]) | (idx >= mine_rows[1])
                    if rest.any():
                        with torch.no_grad():
                            target = F.log_softmax(teacher(x[rest]), 1)
                        kl = F.kl_div(F.log_softmax(logits[rest], 1), target, log_target=True, reduction="batchmean")
                        loss = loss + config.distill * kl
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                if ema is not None:
                    ema.update_parameters(model)
                step += 1
                correct += (logits.detach().argmax(1) == y).sum()
                loss_sum += loss.detach() * len(y)
                seen += len(y)
                if step % config.log_every == 0 or step == total_steps:
                    value = loss.item()
                    if not math.isfinite(value):
                        status = RunStatus.DIVERGED
                        message = f"loss became {value} at step {step}; try a lower learning rate"
                        break
                    el = seconds()
                    point = [step, round(step / steps_per_epoch, 4), value, round(el, 3)]
                    history["steps"].append(point)
                    running = round(correct.item() / max(seen, 1), 4)
                    history["step_accuracy"].append([step, point[1], running])
                    emit(StepEvent(type=EventKind.STEP, step=step, total_steps=total_steps, epoch=point[1],
                                   loss=value, train_accuracy=running, lr=opt.param_groups[0]["lr"], elapsed=el,
                                   images_per_sec=step * config.batch_size / max(el, 1e-9)))
            if status == RunStatus.DIVERGED:
                break
            train_loss = (loss_sum / max(seen, 1)).item()
            if not math.isfinite(train_loss):
                status = RunStatus.DIVERGED
                message = f"loss became {train_loss} in epoch {epoch + 1}; try a lower learning rate"
                break
            test_loss, test_acc = loss_and_accuracy(scored, test_split, device, should_stop=stop)
            el = seconds()
            rec = {"epoch": round(step / steps_per_epoch, 4), "train_loss": train_loss,
                   "train_accuracy": correct.item() / max(seen, 1), "test_loss": test_loss,
                   "test_accuracy": test_acc, "seconds": round(el, 3),
                   "images_per_sec": step * config.batch_size / max(el, 1e-9)}
            history["epochs"].append(rec)
            evaluated = (step, {k: v.detach().clone() for k, v in scored.state_dict().items()})  # what rec measured
            emit(EpochEvent(type=EventKind.EPOCH, **rec, step=step, total_steps=total_steps))
    except Stopped:
        status, message = RunStatus.STOPPED, f"stopped by request at step {step}"
        if evaluated is None and step > 0:
            # stopped before the first evaluation: measure the model as it is and keep it, so a Stop
            # never throws away what was trained (a second or two on the test set, not a lost run)
            test_loss, test_acc = loss_and_accuracy(scored, test_split, device)
            evaluated = (step, scored.state_dict())
            el = seconds()
            rec = {"epoch": round(step / steps_per_epoch, 4), "train_loss": (loss_sum / max(seen, 1)).item(),
                   "train_accuracy": correct.item() / max(seen, 1), "test_loss": test_loss,
                   "test_accuracy": test_acc, "seconds": round(el, 3),
                   "images_per_sec": step * config.batch_size / max(el, 1e-9)}
            history["epochs"].append(rec)
            emit(EpochEvent(type=EventKind.EPOCH, **rec, step=step, total_steps=total_steps))
            message += f"; measured and kept the model as it was (epoch {history['epochs'][-1]['epoch']:g})"
        elif evaluated is not None and step > evaluated[0]:
            # steps after the last evaluation are dropped so the weights match the recorded accuracy
            model.load_state_dict(evaluated[1])
            message += f"; kept the model as evaluated at epoch {history['epochs'][-1]['epoch']:g}"
    if ema is not None and evaluated is not None:  # the model returned is the average that was evaluated
        model.load_state_dict(evaluated[1])

    test_acc = history["epochs"][-1]["test_accuracy"] if history["epochs"] else None
    if status == RunStatus.FINISHED and not message:
        message = f"finished {step} steps in {seconds():.1f} s"
    if config.collection and test_acc is not None:  # after: the same measures of the model it returns
        data_seen["collection"]["held_out_after"] = loss_and_accuracy(model, held_out, device)[1] if held_out else None
    model.eval().cpu().to(memory_format=torch.contiguous_format)  # checkpoints and inference get plain tensors
    result = TrainResult(config, model, status, message, history, test_acc, seconds(), str(device), data_seen)
    emit(EndEvent(type=EventKind.END, status=status, message=message, test_accuracy=test_acc,
                  train_seconds=result.train_seconds))
    return result
