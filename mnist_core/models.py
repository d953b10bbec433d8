"""Architecture registry: name -> builder, with the facts of mnist_core.catalog (description, source,
reported accuracy, builder arguments).

Every model takes a normalised batch (N, 1, 28, 28) and returns logits (N, 10); a drawn-input network
built with classes=11 returns (N, 11), the last one "not a digit" (inference.NOT_A_DIGIT).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from . import catalog


class ConvNet(nn.Module):
    """pytorch/examples' classic MNIST Net (the 2017 version, 99.10% after 100 epochs)."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, 5)
        self.conv2 = nn.Conv2d(10, 20, 5)
        self.conv2_drop = nn.Dropout2d()
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, classes)
        self.drop = nn.Dropout()
        # the tutorial's F.max_pool2d and F.relu as modules (no weights: the same checkpoints load), so
        # layer tables (torchinfo) list them and the Inside page can show each one's output
        self.pool1, self.relu1, self.pool2, self.relu2, self.relu3 = (
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.pool1(self.conv1(x)))  # (N, 10, 12, 12)
        x = self.relu2(self.pool2(self.conv2_drop(self.conv2(x))))  # (N, 20, 4, 4)
        x = self.drop(self.relu3(self.fc1(x.flatten(1))))
        return self.fc2(x)


class RowLSTM(nn.Module):
    """Reads the 28 image rows as a sequence of 28-pixel vectors; classifies the last step."""

    def __init__(self, hidden: int = 128) -> None:
        super().__init__()
        self.lstm = nn.LSTM(28, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, 10, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x.squeeze(1))  # (N, 28 rows, hidden)
        return self.fc(out[:, -1])


def _conv_bn(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def _mlp(*sizes: int, dropout: float = 0.0, bias: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (a, b) in enumerate(zip(sizes, sizes[1:], strict=False)):
        layers.append(nn.Linear(a, b, bias=bias))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def build_softmax() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


def build_mlp(classes: int = 10) -> nn.Module:
    return _mlp(784, 512, 512, classes, dropout=0.2, bias=False)


def build_mlp_128_64() -> nn.Module:
    return _mlp(784, 128, 64, 10)


def build_mlp_128_256() -> nn.Module:
    return _mlp(784, 128, 256, 10)


def build_lenet(classes: int = 10) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 6, 5),
        nn.Sigmoid(),
        nn.MaxPool2d(2, 2),  # (N, 6, 12, 12)
        nn.Conv2d(6, 16, 5),
        nn.Sigmoid(),
        nn.MaxPool2d(2, 2),  # (N, 16, 4, 4)
        nn.Flatten(),
        nn.Linear(256, 120),
        nn.Sigmoid(),
        nn.Linear(120, 84),
        nn.Sigmoid(),
        nn.Linear(84, classes),
    )


def build_simple_convnet(classes: int = 10) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 30, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),  # (N, 30, 12, 12)
        nn.Flatten(),
        nn.Linear(4320, 100),
        nn.ReLU(),
        nn.Linear(100, classes),
    )


def build_cnn(width: int = catalog.CNN_WIDTH, classes: int = 10, depth: int = catalog.CNN_DEPTH) -> nn.Module:
    """The project's default: a stride-2 stem and two 3x3 conv + batch-norm blocks, one-cycle Adam; depth 3
    adds a third block (2w channels at 7x7) between them.

    Chosen by measuring accuracy per second of 2-core CPU training: the stride-2 stem skips the
    costly full-resolution stage, and keeping the 3x3x64 map (not a global pool) before the
    classifier buys accuracy for free. At width 16: 29 k parameters, about 1.8 M multiply-adds per
    image (its one-epoch recipe); at width 24: 61 k and 4.1 M; at width 24 and depth 3 (the shipped
    recipe): 82 k and 5.1 M. With the third block the shipped recipe reads other writers' digits at 98.7%
    or more at each of three seeds (the 2-block cnn did not) and refuses more non-digits, for fewer
    multiply-adds than a 32-wide cnn, which reads them about as well (docs/experiments.md).
    """
    w = width
    return nn.Sequential(
        nn.Conv2d(1, w, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(w),
        nn.ReLU(inplace=True),  # (N, w, 14, 14)
        *_conv_bn(w, 2 * w),
        nn.MaxPool2d(2),  # (N, 2w, 7, 7)
        *[m for _ in range(depth - 2) for m in _conv_bn(2 * w, 2 * w)],  # depth 3: one more block
        *_conv_bn(2 * w, 4 * w),
        nn.MaxPool2d(2),  # (N, 4w, 3, 3)
        nn.Flatten(),
        nn.Linear(4 * w * 9, classes),
    )


# each architecture's builder (its facts are in mnist_core.catalog, in the same order)
BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "softmax": build_softmax,
    "mlp": build_mlp,
    "mlp_128_64": build_mlp_128_64,
    "mlp_128_256": build_mlp_128_256,
    "convnet": ConvNet,
    "lenet": build_lenet,
    "lstm": RowLSTM,
    "simple_convnet": build_simple_convnet,
    "cnn": build_cnn,
}


class Arch(catalog.ArchInfo):
    """One registry entry: the architecture's facts (catalog.ArchInfo) and how to build it (`build`). Its
    training recipes are in mnist_core.recipes."""

    def __init__(self, facts: catalog.ArchInfo, build: Callable[..., nn.Module]) -> None:
        super().__init__(**facts.facts())
        self.__dict__["build"] = build

    @property
    def params(self) -> int:
        """Parameters of the network its builder makes (catalog.param_count says the same without torch)."""
        return param_count(self.build())


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


ARCHS: dict[str, Arch] = {name: Arch(facts, BUILDERS[name]) for name, facts in catalog.ARCHS.items()}
DEFAULT_ARCH = catalog.DEFAULT_ARCH
checked_args = catalog.checked_args  # (here too, for the modules that build networks)


def get_arch(name: str) -> Arch:
    catalog.info(name)  # ValueError naming the choices for an unknown name
    return ARCHS[name]


def build(name: str, args: dict | None = None) -> nn.Module:
    """A fresh model of the architecture, built with `args` (none: the builder's defaults, as every
    checkpoint written before any were recorded). The model carries them as `arch_args`, so a
    checkpoint saved from it records them."""
    args = checked_args(name, args or {})
    model = get_arch(name).build(**args)
    model.arch_args = args
    return model
