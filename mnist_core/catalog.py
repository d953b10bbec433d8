"""The lab's names and facts that need no torch: the architectures (what each is, where it comes from,
what its tutorial reported, the builder arguments it takes, its parameter count) and the choices of a
training run (optimizers, schedules, initialisations, devices, datasets).

The command line's parser, `archs` and a TrainConfig's validation read only this, so `--help`, a typo
and `archs` answer before torch is imported. The networks themselves are in mnist_core.models, which
pairs each entry here with its builder.
"""

from __future__ import annotations

OPTIMIZERS = ("sgd", "sgd_momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "adadelta")
USES_MOMENTUM = ("sgd_momentum", "nesterov", "rmsprop")  # the optimizers that read TrainConfig.momentum
SCHEDULES = ("constant", "step", "onecycle")
INITS = ("default", "normal", "he", "xavier")
DEVICES = ("auto", "cpu", "cuda", "mps")
DATASETS = ("mnist", "fashion")  # mnist_core.data.DATASETS holds each one's torchvision class and folder
DEFAULT_ARCH = "cnn"
CNN_WIDTH = 16  # cnn's own width (models.build_cnn's default): the channels of its first block
CNN_DEPTH = 2  # cnn's own depth: its 3x3 conv + batch-norm blocks (3: one more at 7x7, as the shipped cnn)
# The drawn-input networks' outputs: the ten digits, or eleven with a "not a digit" output (index NOT_A_DIGIT,
# also the label of a non-digit in training and in the user's collections), trained with the project's own
# non-digits (mnist_core.negatives)
CLASSES = (10, 11)
NOT_A_DIGIT = 10


def has_not_a_digit(arch_args: dict) -> bool:
    """Whether a network built with these arguments (a checkpoint's arch_args) has the "not a digit" output."""
    return arch_args.get("classes") == NOT_A_DIGIT + 1


def _cnn_params(width: int = CNN_WIDTH, classes: int = 10, depth: int = CNN_DEPTH) -> int:
    # stem 3x3 conv 9w, blocks 18w^2 and 72w^2, batch norms 2w + 4w + 8w, classifier (4w * 9 + 1) per output;
    # a third block (2w to 2w at 7x7) 36w^2 and its batch norm 4w
    extra = (depth - 2) * (36 * width * width + 4 * width)
    return 90 * width * width + 23 * width + classes * (36 * width + 1) + extra


# Each architecture's parameter count as a function of its builder's arguments, so it is known without
# building the network (tests/test_models.py holds each against the built one).
_PARAMS: dict = {  # name -> a function of the builder's arguments
    "softmax": lambda: 7_850,
    "mlp": lambda classes=10: 663_552 + 512 * classes,
    "mlp_128_64": lambda: 109_386,
    "mlp_128_256": lambda: 136_074,
    "convnet": lambda classes=10: 21_330 + 51 * classes,
    "lenet": lambda classes=10: 43_576 + 85 * classes,
    "lstm": lambda: 82_176,
    "simple_convnet": lambda classes=10: 432_880 + 101 * classes,
    "cnn": _cnn_params,
}


class ArchInfo:
    """One architecture's facts: where it comes from, what its tutorial reported. Its builder is in
    mnist_core.models (models.Arch adds it), its training recipes in mnist_core.recipes. Read-only.
    (A plain class, not a dataclass: importing dataclasses, and inspect with it, would slow the command
    line's `--help`, which reads this module.)"""

    def __init__(
        self,
        name: str,
        description: str,
        source: str,
        reported: str,  # the tutorial's own result, as it states it
        reported_accuracy: float | None,  # the same as a fraction (None where none is reported)
        *,
        drawn_input: bool = False,  # meant for drawn digits: its recipe augments, and pretraining adds pen data
        channels_last: bool = False,  # trains faster on the CPU in channels-last layout (measured per network)
        reported_dataset: str = "mnist",  # what the tutorial's figure was measured on (lenet's: fashion)
        # the builder's arguments a run may set (TrainConfig.width) and a checkpoint records (arch_args),
        # each with its allowed (low, high), so a file cannot ask for a huge net; none: the builder's defaults
        arg_ranges: dict | None = None,
        arg_defaults: dict | None = None,  # the builder's own value of each of them
    ) -> None:
        facts = dict(locals())
        del facts["self"]
        facts["arg_ranges"] = dict(arg_ranges or {})
        facts["arg_defaults"] = dict(arg_defaults or {})
        self.__dict__.update(facts)

    def facts(self) -> dict:
        """The constructor's arguments, by name."""
        return {k: v for k, v in self.__dict__.items() if k != "build"}

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError(f"an architecture's {name} cannot be changed")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    @property
    def params(self) -> int:
        """Parameters with the builder's own arguments."""
        return param_count(self.name)


_OUTPUTS = {"classes": CLASSES}  # the builder argument every drawn-input network takes

ARCHS: dict[str, ArchInfo] = {
    a.name: a
    for a in [
        ArchInfo(
            "softmax",
            "Softmax regression: one linear layer 784 -> 10.",
            "The tutorials' one-layer network (TensorFlow / Keras 'MNIST for beginners').",
            "97.68% test accuracy after 100 epochs",
            0.9768,
        ),
        ArchInfo(
            "mlp",
            "MLP 784-512-512-10, ReLU, dropout 0.2, no biases.",
            "Keras examples mnist_mlp.py.",
            "98.59% test accuracy after 100 epochs (batch 100)",
            0.9859,
            drawn_input=True,
            arg_ranges=_OUTPUTS,
            arg_defaults={"classes": CLASSES[0]},
        ),
        ArchInfo(
            "mlp_128_64",
            "MLP 784-128-64-10 with ReLU.",
            "The classic introductory network (PyTorch beginner tutorials).",
            "no figure reported",
            None,
        ),
        ArchInfo(
            "mlp_128_256",
            "MLP 784-128-256-10 with ReLU.",
            "A PyTorch tutorial's network.",
            "validation loss 0.387 after 25 epochs (SGD lr 0.001)",
            None,
        ),
        ArchInfo(
            "convnet",
            "Two 5x5 convs (10, 20), max-pool, dropout, FC 320-50-10.",
            "pytorch/examples mnist/main.py (2017).",
            "99.10% test accuracy after 100 epochs",
            0.9910,
            drawn_input=True,
            channels_last=True,
            arg_ranges=_OUTPUTS,
            arg_defaults={"classes": CLASSES[0]},
        ),
        ArchInfo(
            "lenet",
            "LeNet-5 as taught: 5x5 convs 6, 16, sigmoid, FC 120-84-10.",
            "Dive into Deep Learning, LeNet chapter.",
            "87.4% on FashionMNIST after 5 epochs",
            0.874,
            drawn_input=True,
            channels_last=True,
            reported_dataset="fashion",
            arg_ranges=_OUTPUTS,
            arg_defaults={"classes": CLASSES[0]},
        ),
        ArchInfo(
            "lstm",
            "LSTM(28 -> 128) over the 28 image rows, linear on the last step.",
            "The row-by-row RNN tutorials (PyTorch / TensorFlow RNN on MNIST).",
            "98.55% test accuracy after 100 epochs",
            0.9855,
        ),
        ArchInfo(
            "simple_convnet",
            "Conv 5x5 (30) -> max-pool -> FC 4320-100-10.",
            "Deep Learning from Scratch (the numpy book's SimpleConvNet).",
            "no figure reported",
            None,
            drawn_input=True,
            channels_last=True,
            arg_ranges=_OUTPUTS,
            arg_defaults={"classes": CLASSES[0]},
        ),
        ArchInfo(
            "cnn",
            "MNIST Lab's fast CNN: stride-2 stem, two or three 3x3 conv + batch-norm blocks.",
            "This project: tuned for accuracy per second of CPU training.",
            "no tutorial: the project's own default",
            None,
            drawn_input=True,
            channels_last=True,
            arg_ranges={"width": (4, 64), "depth": (2, 3), **_OUTPUTS},
            arg_defaults={"width": CNN_WIDTH, "depth": CNN_DEPTH, "classes": CLASSES[0]},
        ),
    ]
}


def info(name: str) -> ArchInfo:
    """The architecture's facts; ValueError naming the choices for an unknown name."""
    try:
        return ARCHS[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; choose from {', '.join(ARCHS)}") from None


def checked_args(name: str, args: dict) -> dict:
    """Builder arguments (a run's, or what a checkpoint recorded) checked against the architecture's
    ranges: ValueError when one is unknown or out of range."""
    arch = info(name)
    for key, value in args.items():
        if key not in arch.arg_ranges:
            raise ValueError(f"{name} takes no argument {key!r}")
        lo, hi = arch.arg_ranges[key]
        if not (isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi):
            raise ValueError(f"{name}'s {key} must be a whole number from {lo} to {hi}, not {value!r}")
    return dict(args)


def args_said(name: str, args: dict) -> str:
    """Builder arguments in words, the builder's own filling in what `args` leaves out: "width 24", "width
    24, an 11th 'not a digit' output" (ten outputs, every network's, go unsaid unless nothing else is said)."""
    given = {**info(name).arg_defaults, **args}
    said = [
        "an 11th 'not a digit' output" if k == "classes" else f"{k} {v}"
        for k, v in given.items()
        if not (k == "classes" and v == CLASSES[0])
    ]
    return ", ".join(said) or ("ten outputs" if "classes" in given else "no arguments")


def param_count(name: str, args: dict | None = None) -> int:
    """The parameters of the architecture built with `args` (models.build's), counted without building it."""
    return _PARAMS[name](**checked_args(name, args or {}))
