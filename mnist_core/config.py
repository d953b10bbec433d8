"""What defines a training run: TrainConfig, a frozen dataclass validated on construction, and the
choices its fields take (named in mnist_core.catalog: nothing here imports torch, so the command line
parses its flags without it). Recipes (mnist_core.recipes) are TrainConfigs; the loop (mnist_core.training)
runs one."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from .catalog import ARCHS, DATASETS, DEVICES, INITS, OPTIMIZERS, SCHEDULES, USES_MOMENTUM, checked_args

__all__ = ["INITS", "OPTIMIZERS", "SCHEDULES", "USES_MOMENTUM", "TrainConfig"]  # the choices: mnist_core.catalog


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. Validated on construction."""

    arch: str = "cnn"  # a registry key (catalog.ARCHS)
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
    # train an 11th output, "not a digit" (label 10), on the project's own non-digits (mnist_core.negatives'
    # train kinds) mixed into the batches; the accuracy it records stays the ten digits'
    negatives: bool = False
    width: int = 0  # 0 = the architecture's own; else the channels of its first block (cnn's arg_ranges)
    depth: int = 0  # 0 = the architecture's own; else its 3x3 conv blocks (cnn's arg_ranges: 3 adds one at 7x7)
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
        check(self.dataset in DATASETS, f"unknown dataset {self.dataset!r}")
        check(self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}")
        check(self.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}")
        check(self.init in INITS, f"init must be one of {', '.join(INITS)}")
        check(self.device in DEVICES, f"device must be one of {', '.join(DEVICES)}")
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
        check(
            all(isinstance(v, bool) for v in (self.pen_data, self.styles, self.negatives)),
            "pen_data, styles and negatives are on or off",
        )
        check(
            not self.negatives or "classes" in ARCHS[self.arch].arg_ranges,
            f"{self.arch} has no 'not a digit' output to train: only the networks meant for drawn input do",
        )
        check(
            not (self.pen_data or self.styles or self.negatives) or self.dataset == "mnist",
            "pen-drawn digits, writing styles and non-digits go with digits: they need the mnist dataset",
        )
        check(isinstance(self.init_from, str) and len(self.init_from) <= 1000, "init_from is a model name or path")
        check(isinstance(self.collection, str) and len(self.collection) <= 64, "collection is a collection's name")
        check(not self.collection or self.dataset == "mnist", "a collection of drawn digits needs the mnist dataset")
        check(is_num(self.distill) and 0 <= self.distill <= 100, "distill must be in [0, 100]")
        check(is_num(self.ema) and 0 <= self.ema < 1, "ema (the weights' averaging decay) must be in [0, 1)")
        checked_args(self.arch, self.arch_args)  # ValueError naming the range, or that the arch takes none
        check(not self.distill or self.init_from, "distill keeps a starting model's outputs: it needs init_from")

    @property
    def size_args(self) -> dict:
        """The network size this run sets (width and depth where not 0): {} for the architecture's own."""
        return {k: v for k, v in (("width", self.width), ("depth", self.depth)) if v != 0}

    @property
    def arch_args(self) -> dict:
        """The builder arguments this run sets (models.build): its size_args; classes 11 (the "not a digit"
        output) with negatives."""
        return self.size_args | ({"classes": 11} if self.negatives else {})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)
