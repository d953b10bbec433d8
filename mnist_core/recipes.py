"""Every training recipe in one place: what each architecture's tutorial did, the lab's recommended
recipe, the quick first run the Train page opens on, fine-tuning on a user's drawings, and the recipe the
shipped models are pretrained with. Each is a TrainConfig (mnist_core.config), overridable field by field.

The numbers behind the choices are in docs/models.md and docs/experiments.md; each recipe's comment says
what it was measured against.
"""

from __future__ import annotations

from dataclasses import replace

from . import peek
from .catalog import ARCHS, has_not_a_digit
from .config import TrainConfig

_ADAM = dict(optimizer="adam", lr=1e-3)

# cnn's one-epoch recipe: 99.1-99.3% over seeds 0-5 in about 20 s on 2 cores (label smoothing adds ~0.1
# point). cnn has no tutorial, so this is also what `--tutorial` trains for it.
CNN_ONE_EPOCH = dict(optimizer="adam", lr=0.02, batch_size=64, epochs=1, schedule="onecycle", label_smoothing=0.1)

# The tutorials' own settings, as they state them (their reported figures are in catalog.ARCHS).
TUTORIAL: dict[str, dict] = {
    "softmax": dict(optimizer="sgd", lr=0.1, batch_size=100, epochs=100),
    "mlp": dict(**_ADAM, batch_size=100, epochs=100),
    "mlp_128_64": dict(optimizer="sgd_momentum", lr=0.003, batch_size=64, epochs=15),
    "mlp_128_256": dict(optimizer="sgd", lr=0.001, batch_size=64, epochs=25),
    "convnet": dict(optimizer="sgd_momentum", lr=0.01, batch_size=100, epochs=100),
    "lenet": dict(optimizer="adam", lr=0.01, batch_size=64, epochs=5),
    "lstm": dict(optimizer="sgd_momentum", lr=0.01, batch_size=100, epochs=100),
    "simple_convnet": dict(**_ADAM, batch_size=100, epochs=20),
    "cnn": CNN_ONE_EPOCH,
}

# The lab's recommended recipes: close to each tutorial's accuracy in a few epochs on a laptop CPU; the
# networks meant for drawn digits (catalog.ArchInfo.drawn_input) augment.
RECOMMENDED: dict[str, dict] = {
    "softmax": dict(**_ADAM, batch_size=128, epochs=3),
    "mlp": dict(**_ADAM, batch_size=128, epochs=6, schedule="onecycle", augment=True),
    "mlp_128_64": dict(**_ADAM, batch_size=128, epochs=3),
    "mlp_128_256": dict(**_ADAM, batch_size=128, epochs=3),
    "convnet": dict(optimizer="sgd_momentum", lr=0.01, batch_size=100, epochs=6, augment=True),
    "lenet": dict(optimizer="adam", lr=0.01, batch_size=64, epochs=5, augment=True),
    "lstm": dict(**_ADAM, batch_size=128, epochs=3, schedule="onecycle"),
    "simple_convnet": dict(**_ADAM, batch_size=128, epochs=4, schedule="onecycle", augment=True),
    # 12 epochs, width 24, depth 3 and the weights' moving average: it learns the world's hands as well as
    # MNIST's (UNIPEN's benchmark writers 98.88% and the MNIST re-render 99.12%, against 98.65% and 98.98% at
    # width 16, for 1.7x the time per epoch; the average: MNIST 99.37% against 99.27% for the last step's
    # weights; the third block, with the pen data and non-digits: 98.79-99.08% at seeds 0-2 against
    # 98.62-98.73% at depth 2, for 1.25x the multiply-adds: docs/experiments.md)
    "cnn": dict(
        optimizer="adam",
        lr=0.01,
        batch_size=128,
        epochs=12,
        schedule="onecycle",
        augment=True,
        width=24,
        depth=3,
        ema=0.999,
    ),
}

# A first run, done in under a minute on a laptop CPU with its curves moving from the first steps: one
# epoch of the recommended recipe without augmentation; cnn's own one-epoch recipe.
QUICK: dict[str, dict] = {
    **{arch: {**recipe, "epochs": 1, "augment": False} for arch, recipe in RECOMMENDED.items()},
    "cnn": CNN_ONE_EPOCH,
}

PRETRAIN_SEED = 0


def _config(table: dict[str, dict], arch: str, overrides: dict) -> TrainConfig:
    if arch not in table:
        raise ValueError(f"unknown architecture {arch!r}; choose from {', '.join(ARCHS)}")
    return replace(TrainConfig(arch=arch, **table[arch]), **overrides)


def recommended(arch: str, **overrides) -> TrainConfig:
    """The architecture's recommended recipe, with overrides."""
    return _config(RECOMMENDED, arch, overrides)


def tutorial(arch: str, **overrides) -> TrainConfig:
    """What the architecture's tutorial did (cnn, which has none: its one-epoch recipe), with overrides."""
    return _config(TUTORIAL, arch, overrides)


def quick(arch: str, **overrides) -> TrainConfig:
    """The quick first run the Train page opens on, with overrides."""
    return _config(QUICK, arch, overrides)


def finetune(init_from: str, arch: str, collection: str, **overrides) -> TrainConfig:
    """Fine-tune the model `init_from` (its architecture `arch`) on a collection of the user's drawings
    mixed with MNIST: a few hundred steps, a learning rate a fifth of cnn's own recipe's, augmented, the
    drawings half of the images (trainset.COLLECTION_SHARE), and distilled: on the MNIST images it keeps
    the starting model's outputs, so it learns the user's styles without forgetting MNIST's (every fifth
    drawing of each digit is held out to measure it). No label smoothing: against the starting model's
    own sharp answers it held back what the drawings teach. Measured with bench/finetune_writer.py (one
    UNIPEN benchmark writer): see its docstring. A starting model with the "not a digit" output keeps
    learning it (a few of the project's non-digits and the user's own in the mix) and keeps its reading
    (temperature and threshold): distilled, it moves too little to need them fitted again."""
    return TrainConfig(
        **{
            "arch": arch,
            "init_from": init_from,
            "collection": collection,
            "optimizer": "adam",
            "lr": 2e-3,
            "schedule": "onecycle",
            "batch_size": 64,
            "epochs": 1,
            "max_steps": 300,
            "augment": True,
            "distill": 1.0,
            "log_every": 5,
            "negatives": has_detector(init_from),
            **overrides,
        }
    )


def has_detector(checkpoint: str) -> bool:
    """Whether the checkpoint's network has the 11th "not a digit" output (False when it cannot be read:
    loading it will say why)."""
    recorded = peek.recorded(checkpoint)
    return bool(recorded) and has_not_a_digit(recorded["arch_args"])


def pretrain(arch: str, **overrides) -> TrainConfig:
    """A shipped model's recipe: its recommended one, seed 0, on the CPU; the drawn-input models also learn
    from UNIPEN's training writers' pen-drawn digits and the world's writing styles, and to say "not a
    digit" (an 11th output trained on the project's own non-digits, its reading fitted after)."""
    drawn = ARCHS[arch].drawn_input
    recipe = dict(seed=PRETRAIN_SEED, device="cpu", pen_data=drawn, styles=drawn, negatives=drawn)
    return recommended(arch, **{**recipe, **overrides})
