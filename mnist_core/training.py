"""The training loop: batches sliced from in-memory tensors, optimizers, schedules, events.

`train(config, on_event=..., should_stop=...)` runs one training run and returns a TrainResult.
It never touches a UI: progress goes out as plain dict events (events.Event) through `on_event`, and a
stop is asked for through `should_stop`, checked between steps (and between evaluation batches).
What a run trains on is gathered by mnist_core.trainset, the model it starts from by `starting_model`.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from . import augment, catalog, checkpoints, data, devices, fit_reading, inference, trainset
from .augment import STYLE_LABELS, augment_batch, style_batch
from .config import TrainConfig
from .evaluation import Stopped, loss_and_accuracy
from .events import SAVED, EndEvent, EpochEvent, Event, EventKind, RunStatus, StartEvent, StepEvent
from .models import build, get_arch
from .optimizers import init_weights, make_optimizer, make_schedule
from .trainset import TrainingData

_STYLED = torch.tensor(STYLE_LABELS)


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
    # a run with the "not a digit" output: how its outputs are read (fit_reading.fit: extra "reading", "reading_fit")
    fitted: dict = field(default_factory=dict)

    def save(self, path, name: str | None = None, extra: dict | None = None):
        """Write the checkpoint (refused for a run with nothing usable to save)."""
        if not self.usable:
            raise ValueError(f"not saving a {self.status} run with no evaluated model: {self.message}")
        metrics = {
            "test_accuracy": self.test_accuracy,
            "train_seconds": round(self.train_seconds, 3),
            "status": RunStatus(self.status).value,
            "device": self.device,  # plain str: loading refuses enums
            "epochs_done": self.history["epochs"][-1]["epoch"],
            **devices.machine_load(self.history["epochs"]),
        }
        extra = {"data_seen": self.data_seen, **self.fitted, **(extra or {})}
        return checkpoints.save(
            path, self.model, self.config.arch, self.config.to_dict(), self.history, metrics, name=name, extra=extra
        )

    @property
    def usable(self) -> bool:
        """A model worth saving: it trained without diverging and was evaluated."""
        return self.status in SAVED and self.test_accuracy is not None


def starting_model(
    config: TrainConfig, device: torch.device, td: TrainingData, model: nn.Module | None = None
) -> nn.Module:
    """The model the run trains, on `device`: `model` if given (a benchmark's own), else the checkpoint it
    fine-tunes (init "default" keeps its weights), else a new `config.arch`; channels-last where it pays."""
    channels_last = model is None and uses_channels_last(config.arch, device)
    if model is None and config.init_from:
        model, meta = checkpoints.load(inference.resolve(config.init_from))
        if meta["arch"] != config.arch:
            raise ValueError(f"{config.init_from} is a {meta['arch']}, not a {config.arch}")
        if config.negatives and not catalog.has_not_a_digit(meta.get("arch_args", {})):
            raise ValueError(f"{config.init_from} has no 'not a digit' output to fine-tune with non-digits")
        td.start_reading = (meta.get("extra") or {}).get("reading")
    if model is None:
        model = build(config.arch, config.arch_args)
    init_weights(model, config.init)
    model.to(device)
    if config.collection:  # before: the starting model on the held-out drawings and on MNIST's test set
        td.seen["collection"]["mnist_before"] = loss_and_accuracy(model, td.test, device)[1]
        held = td.held_out
        td.seen["collection"]["held_out_before"] = loss_and_accuracy(model, held, device)[1] if held else None
    if channels_last:  # oneDNN's convolutions: one epoch 15-38% faster for the four conv nets on 2 cores
        model.to(memory_format=torch.channels_last)
    return model


def _weights_average(model: nn.Module, ema: float, total_steps: int) -> AveragedModel | None:
    """The weights' moving average (torch's own), batch-norm statistics included: what is evaluated and
    kept. Its span, 1 / (1 - decay) steps, is at most a fifth of the run, so a short run's average is not
    its start's (the first weights count e^-5 < 1%); cnn's 12-epoch recipe keeps its 0.999."""
    if not ema:
        return None
    decay = max(0.0, min(ema, 1 - 5 / max(total_steps, 1)))
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def _freeze_batch_norm(model: nn.Module) -> None:
    """Fine-tuning: batch-norm keeps the statistics it learned (a small mix would move them)."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def _batch_loss(
    config: TrainConfig,
    model: nn.Module,
    teacher: nn.Module | None,
    td: TrainingData,
    x: torch.Tensor,
    y: torch.Tensor,
    idx: torch.Tensor,
    gen: torch.Generator,
):
    """One batch's logits and loss: styles and augmentation, normalisation, cross-entropy, and fine-tuning's
    KL(starting model || model) on the rows that are not the collection's."""
    if config.styles:  # drawn only on the rows of the digits that take one: the strokes' ink is costly per row
        rows = torch.isin(y, _STYLED.to(y.device)).nonzero().squeeze(1)
        if augment.SCAN_P > 0:  # the low-resolution scans (augment.scan_batch) are for every row of the batch
            rows = torch.arange(len(y), device=y.device)
        x[rows] = style_batch(x[rows], y[rows], gen)
    if config.augment:
        x = augment_batch(x, gen)
    x = x.sub_(data.MEAN).div_(data.STD)
    logits = model(x)
    loss = F.cross_entropy(logits, y, label_smoothing=config.label_smoothing)
    if teacher is not None:
        rest = (idx < td.mine_rows[0]) | (idx >= td.mine_rows[1])
        if rest.any():
            with torch.no_grad():
                target = F.log_softmax(teacher(x[rest]), 1)
            kl = F.kl_div(F.log_softmax(logits[rest], 1), target, log_target=True, reduction="batchmean")
            loss = loss + config.distill * kl
    return logits, loss


@dataclass
class _Epoch:
    """The running figures of the epoch in progress (on the device: read once per log line)."""

    correct: torch.Tensor
    loss_sum: torch.Tensor
    seen: int = 0

    def add(self, logits: torch.Tensor, loss: torch.Tensor, y: torch.Tensor) -> None:
        self.correct += (logits.detach().argmax(1) == y).sum()
        self.loss_sum += loss.detach() * len(y)
        self.seen += len(y)

    @property
    def accuracy(self) -> float:
        return self.correct.item() / max(self.seen, 1)

    @property
    def loss(self) -> float:
        return (self.loss_sum / max(self.seen, 1)).item()


def _epoch_record(
    step: int, steps_per_epoch: int, ep: _Epoch, test: tuple[float, float], seconds: float, batch_size: int
) -> dict:
    return {
        "epoch": round(step / steps_per_epoch, 4),
        "train_loss": ep.loss,
        "train_accuracy": ep.accuracy,
        "test_loss": test[0],
        "test_accuracy": test[1],
        "seconds": round(seconds, 3),
        "images_per_sec": step * batch_size / max(seconds, 1e-9),
        "load_1min": devices.machine_load()["load_1min"],  # other work on the machine shows in the seconds
    }


class _Loop:
    """One run's loop and its state: the step, the history, and the weights at the last evaluation."""

    def __init__(
        self,
        config: TrainConfig,
        td: TrainingData,
        model: nn.Module,
        device: torch.device,
        emit: Callable[[Event], None],
        stop: Callable[[], bool],
    ):
        self.config, self.td, self.model, self.device, self.emit, self.stop = config, td, model, device, emit, stop
        self.gen = torch.Generator().manual_seed(config.seed)
        # fine-tuning's distillation target: the starting model, frozen (batch-norm in eval mode, as the student's)
        self.teacher = copy.deepcopy(model).eval().requires_grad_(False) if config.distill else None
        self.opt = make_optimizer(config, model.parameters())
        self.steps_per_epoch = math.ceil(len(td) / config.batch_size)
        self.total_steps = self.steps_per_epoch * config.epochs
        if config.max_steps:
            self.total_steps = min(self.total_steps, config.max_steps)
        self.sched = make_schedule(config, self.opt, self.total_steps)
        self.ema = _weights_average(model, config.ema, self.total_steps)
        self.scored = self.ema.module if self.ema is not None else model  # what is evaluated and kept
        # step_accuracy: [[step, epoch, the epoch's running training accuracy so far]]: the chart moves from step 1
        self.history: dict = {"steps": [], "epochs": [], "step_accuracy": []}
        self.evaluated: tuple[int, dict] | None = None  # (step, weights) at the last evaluation
        self.step, self.t0 = 0, time.perf_counter()

    def seconds(self) -> float:
        return time.perf_counter() - self.t0

    def new_epoch(self) -> _Epoch:
        return _Epoch(torch.zeros((), dtype=torch.long, device=self.device), torch.zeros((), device=self.device))

    def epoch(self, epoch: int, ep: _Epoch) -> str:
        """Train one epoch into `ep`; "" or, when the loss stopped being finite, the message saying so."""
        cfg, model = self.config, self.model
        model.train()
        if cfg.init_from:
            _freeze_batch_norm(model)
        rows = self.td.epoch(epoch)  # this epoch's rows of td.pool: each batch gathered from it, no copies
        perm = torch.randperm(len(self.td), generator=self.gen).to(self.device)
        for i in range(self.steps_per_epoch):
            if self.step >= self.total_steps:
                break
            if self.stop():
                raise Stopped
            idx = rows[perm[i * cfg.batch_size : (i + 1) * cfg.batch_size]]
            x = self.td.pool[idx].unsqueeze(1).float().div_(255.0)  # (B, 1, 28, 28) in [0, 1]
            y = self.td.pool_labels[idx]
            logits, loss = _batch_loss(cfg, model, self.teacher, self.td, x, y, idx, self.gen)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.sched.step()
            if self.ema is not None:
                self.ema.update_parameters(model)
            self.step += 1
            ep.add(logits, loss, y)
            if self.step % cfg.log_every == 0 or self.step == self.total_steps:
                value = loss.item()
                if not math.isfinite(value):
                    return f"loss became {value} at step {self.step}; try a lower learning rate"
                self.log_step(value, ep)
        if not math.isfinite(ep.loss):
            return f"loss became {ep.loss} in epoch {epoch + 1}; try a lower learning rate"
        return ""

    def log_step(self, loss: float, ep: _Epoch) -> None:
        el = self.seconds()
        point = [self.step, round(self.step / self.steps_per_epoch, 4), loss, round(el, 3)]
        self.history["steps"].append(point)
        running = round(ep.accuracy, 4)
        self.history["step_accuracy"].append([self.step, point[1], running])
        self.emit(
            StepEvent(
                type=EventKind.STEP,
                step=self.step,
                total_steps=self.total_steps,
                epoch=point[1],
                loss=loss,
                train_accuracy=running,
                lr=self.opt.param_groups[0]["lr"],
                elapsed=el,
                images_per_sec=self.step * self.config.batch_size / max(el, 1e-9),
            )
        )

    def measure(self, ep: _Epoch, should_stop: Callable[[], bool] | None = None) -> None:
        """Evaluate the kept weights on the test set, record the epoch, and remember those weights."""
        test = loss_and_accuracy(self.scored, self.td.test, self.device, should_stop=should_stop)
        rec = _epoch_record(self.step, self.steps_per_epoch, ep, test, self.seconds(), self.config.batch_size)
        self.history["epochs"].append(rec)
        self.evaluated = (self.step, {k: v.detach().clone() for k, v in self.scored.state_dict().items()})
        self.emit(EpochEvent(type=EventKind.EPOCH, **rec, step=self.step, total_steps=self.total_steps))

    def stopped(self, ep: _Epoch | None) -> str:
        """A stop's message, having kept a model whose weights match its recorded accuracy."""
        message = f"stopped by request at step {self.step}"
        if self.evaluated is None and self.step > 0 and ep is not None:
            # stopped before the first evaluation: measure the model as it is and keep it, so a Stop
            # never throws away what was trained (a second or two on the test set, not a lost run)
            self.measure(ep)
            return message + f"; measured and kept the model as it was (epoch {self.history['epochs'][-1]['epoch']:g})"
        if self.evaluated is not None and self.step > self.evaluated[0]:
            # steps after the last evaluation are dropped so the weights match the recorded accuracy
            self.model.load_state_dict(self.evaluated[1])
            return message + f"; kept the model as evaluated at epoch {self.history['epochs'][-1]['epoch']:g}"
        return message


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
    td = trainset.load(config, data_root, device)
    torch.manual_seed(config.seed)
    model = starting_model(config, device, td, model)
    loop = _Loop(config, td, model, device, emit, stop)
    emit(
        StartEvent(
            type=EventKind.START,
            total_steps=loop.total_steps,
            steps_per_epoch=loop.steps_per_epoch,
            epochs=config.epochs,
            device=str(device),
            train_images=len(td),
        )
    )
    status, message, ep = RunStatus.FINISHED, "", None
    try:
        for epoch in range(config.epochs):
            if loop.step >= loop.total_steps:
                break
            ep = loop.new_epoch()
            message = loop.epoch(epoch, ep)
            if message:
                status = RunStatus.DIVERGED
                break
            loop.measure(ep, should_stop=stop)
    except Stopped:
        status, message = RunStatus.STOPPED, loop.stopped(ep)
    if loop.ema is not None and loop.evaluated is not None:  # the model returned is the average that was evaluated
        model.load_state_dict(loop.evaluated[1])

    history = loop.history
    test_acc = history["epochs"][-1]["test_accuracy"] if history["epochs"] else None
    if status == RunStatus.FINISHED:
        message = f"finished {loop.step} steps in {loop.seconds():.1f} s"
    if config.collection and test_acc is not None:  # after: the same measures of the model it returns
        held = td.held_out
        td.seen["collection"]["held_out_after"] = loss_and_accuracy(model, held, device)[1] if held else None
    model.eval().cpu().to(memory_format=torch.contiguous_format)  # checkpoints and inference get plain tensors
    result = TrainResult(config, model, status, message, history, test_acc, loop.seconds(), str(device), td.seen)
    if config.negatives and result.usable and not config.init_from:  # fitted on the writers held out for it
        predictor = inference.Predictor(model, {"arch": config.arch}, config.arch)
        result.fitted = fit_reading.fit(predictor, data_root)
    elif td.start_reading and result.usable:  # fine-tuned: a few hundred distilled steps keep the start's reading
        result.fitted = {"reading": td.start_reading, "reading_fit": {"carried_from": config.init_from}}
    emit(
        EndEvent(
            type=EventKind.END,
            status=status,
            message=message,
            test_accuracy=test_acc,
            train_seconds=result.train_seconds,
        )
    )
    return result
