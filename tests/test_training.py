"""mnist_core.training: config validation, optimizers, schedules, inits, determinism, events,
stopping, divergence, augmentation, step limits and a small run that learns.

Runs use the test-made small data set (1,200 + 300 digits) and a few steps each. Torch is held
to one thread here: on a shared 2-core machine a second OpenMP thread spins against the other
processes and makes these tiny steps many times slower, without changing what is tested.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import replace
from itertools import pairwise

import pytest
import torch
from torch import nn

from mnist_core import augment, checkpoints, data, devices, evaluation, recipes, training
from mnist_core.config import INITS, OPTIMIZERS, SCHEDULES, TrainConfig
from mnist_core.models import ARCHS, build
from mnist_core.training import train

# Small, fast settings for most runs: 600 images in batches of 64 (10 steps an epoch).
QUICK = dict(arch="softmax", device="cpu", batch_size=64, train_limit=600, log_every=1)
# what the machine measured, not what the run computed: they differ between identical runs (the load too)
TIMING_KEYS = {"seconds", "elapsed", "images_per_sec", "load_1min"}


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def quick(**kw) -> TrainConfig:
    return TrainConfig(**{**QUICK, **kw})


def run(cfg: TrainConfig, root, **kw) -> tuple[training.TrainResult, list[dict]]:
    events: list[dict] = []
    result = train(cfg, data_root=root, on_event=events.append, **kw)
    return result, events


def without_timings(history: dict) -> dict:
    """The history with its wall-clock fields removed (they differ between identical runs)."""
    return {
        "steps": [p[:3] for p in history["steps"]],
        "epochs": [{k: v for k, v in e.items() if k not in TIMING_KEYS} for e in history["epochs"]],
    }


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("arch", "resnet50", "unknown architecture 'resnet50'"),
        ("dataset", "cifar10", "unknown dataset 'cifar10'"),
        ("optimizer", "lbfgs", "optimizer must be one of"),
        ("schedule", "cosine", "schedule must be one of"),
        ("init", "orthogonal", "init must be one of"),
        ("device", "tpu", "device must be one of"),
        ("lr", 0, "learning rate"),
        ("lr", -0.1, "learning rate"),
        ("lr", 1e6, "learning rate"),
        ("lr", float("nan"), "learning rate"),
        ("lr", float("inf"), "learning rate"),
        ("lr", "0.1", "learning rate"),
        ("lr", True, "learning rate"),
        ("momentum", 1.0, "momentum"),
        ("momentum", -0.5, "momentum"),
        ("momentum", float("nan"), "momentum"),
        ("momentum", "0.9", "momentum"),
        ("weight_decay", -1e-4, "weight decay"),
        ("weight_decay", 2.0, "weight decay"),
        ("weight_decay", None, "weight decay"),
        ("label_smoothing", -0.1, "label smoothing"),
        ("label_smoothing", 1.0, "label smoothing"),
        ("label_smoothing", "0.1", "label smoothing"),
        ("label_smoothing", True, "label smoothing"),
        ("batch_size", 0, "batch size"),
        ("batch_size", 10_000, "batch size"),
        ("batch_size", 64.0, "batch size"),
        ("batch_size", True, "batch size"),
        ("epochs", 0, "epochs"),
        ("epochs", 1001, "epochs"),
        ("epochs", 2.5, "epochs"),
        ("seed", -1, "seed"),
        ("seed", 2**63, "seed"),
        ("seed", "7", "seed"),
        ("max_steps", -1, "max_steps"),
        ("train_limit", -5, "train_limit"),
        ("log_every", 0, "log_every"),
    ],
)
def test_bad_values_raise_a_clear_value_error(field, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        TrainConfig(**{field: value})


def test_valid_config_is_frozen_and_round_trips():
    cfg = TrainConfig(arch="lenet", optimizer="nesterov", lr=0.05, schedule="step", seed=3, augment=True)
    with pytest.raises(AttributeError):
        cfg.lr = 1.0  # frozen dataclass
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    # a dict from a newer or older version: unknown keys are ignored, missing ones take defaults
    assert TrainConfig.from_dict({**cfg.to_dict(), "no_such_field": 1}) == cfg
    assert TrainConfig.from_dict({"arch": "mlp"}) == TrainConfig(arch="mlp")
    with pytest.raises(ValueError):
        TrainConfig.from_dict({**cfg.to_dict(), "lr": -1})  # validation also applies to loaded dicts


@pytest.mark.parametrize("arch", list(ARCHS))
def test_recommended_config_is_the_recipe_with_overrides(arch):
    fast, tutorial = recipes.recommended(arch), recipes.tutorial(arch)
    for cfg, recipe in ((fast, recipes.RECOMMENDED[arch]), (tutorial, recipes.TUTORIAL[arch])):
        assert cfg.arch == arch
        assert {k: getattr(cfg, k) for k in recipe} == recipe
    over = recipes.recommended(arch, epochs=2, seed=9, max_steps=5)
    assert (over.epochs, over.seed, over.max_steps) == (2, 9, 5)
    assert over.optimizer == fast.optimizer and over.lr == fast.lr
    with pytest.raises(ValueError, match="epochs"):
        recipes.recommended(arch, epochs=0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_cuda_without_it_is_a_clear_error():
    assert devices.resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        devices.resolve_device("cuda")


# -- optimizers, schedules, initialisations ---------------------------------------------------


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_trains_a_few_steps(optimizer, small_data_dir):
    cfg = quick(optimizer=optimizer, lr=0.05, max_steps=3, weight_decay=1e-4)
    torch.manual_seed(cfg.seed)
    before = weights(build(cfg.arch))  # what train() starts from: same seed, default init
    result, events = run(cfg, small_data_dir)
    assert result.status == "finished", result.message
    assert [e["step"] for e in events if e["type"] == "step"] == [1, 2, 3]
    assert all(math.isfinite(e["loss"]) for e in events if e["type"] == "step")
    assert not same_weights(before, weights(result.model)), "the optimizer did not change the weights"
    assert 0.0 <= result.test_accuracy <= 1.0


def test_optimizer_names_map_to_the_right_torch_optimizers():
    params = [nn.Parameter(torch.zeros(3))]
    expect = {
        "sgd": (torch.optim.SGD, 0.0, False),
        "sgd_momentum": (torch.optim.SGD, 0.8, False),
        "nesterov": (torch.optim.SGD, 0.8, True),
        "adagrad": (torch.optim.Adagrad, None, None),
        "rmsprop": (torch.optim.RMSprop, 0.8, None),
        "adam": (torch.optim.Adam, None, None),
        "adamw": (torch.optim.AdamW, None, None),
        "adadelta": (torch.optim.Adadelta, None, None),
    }
    assert set(expect) == set(OPTIMIZERS)
    for name, (cls, momentum, nesterov) in expect.items():
        opt = training.make_optimizer(TrainConfig(optimizer=name, lr=0.02, momentum=0.8, weight_decay=0.001), params)
        group = opt.param_groups[0]
        assert type(opt) is cls, name
        assert group["lr"] == 0.02 and group["weight_decay"] == 0.001
        if momentum is not None:
            assert group["momentum"] == momentum, name
        if nesterov is not None:
            assert group["nesterov"] is nesterov, name


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_every_schedule_shapes_the_learning_rate(schedule, small_data_dir):
    lr = 0.05
    result, events = run(quick(schedule=schedule, lr=lr, epochs=2), small_data_dir)  # 20 steps
    assert result.status == "finished", result.message
    # the rate each step event reports is the one for the next step
    lrs = [e["lr"] for e in events if e["type"] == "step"]
    total = len(lrs)
    assert total == 20
    if schedule == "constant":
        assert lrs == [lr] * total
    elif schedule == "step":  # x0.1 at 50% and again at 75% of the steps
        half, three_quarters = total // 2, total * 3 // 4
        assert lrs[: half - 1] == [lr] * (half - 1)
        assert lrs[half - 1] == pytest.approx(lr * 0.1)
        assert lrs[three_quarters - 1] == pytest.approx(lr * 0.01)
        assert lrs[-1] == pytest.approx(lr * 0.01)
    else:  # one-cycle: warms up to the peak, then anneals far below the start
        lrs = lrs[:-1]  # the rates steps 2..20 used (the last event's "next" rate is never used)
        peak = max(lrs)
        assert peak == pytest.approx(lr, rel=0.05)
        assert lrs[0] < peak / 2 and lrs[-1] < lrs[0] / 10
        top = lrs.index(peak)
        assert 0 < top < len(lrs) - 1
        assert all(a <= b for a, b in pairwise(lrs[: top + 1]))
        assert all(a >= b for a, b in pairwise(lrs[top:]))


def test_init_schemes_set_the_documented_distributions():
    torch.manual_seed(0)
    default = weights(build("mlp_128_64"))
    torch.manual_seed(0)
    model = build("mlp_128_64")
    training.init_weights(model, "default")
    assert same_weights(default, weights(model)), "'default' keeps PyTorch's own initialisation"
    for scheme in ("normal", "he", "xavier"):
        model = build("mlp_128_64")
        training.init_weights(model, scheme)
        for layer in (m for m in model.modules() if isinstance(m, nn.Linear)):
            w, (fan_out, fan_in) = layer.weight.detach(), layer.weight.shape
            assert torch.count_nonzero(layer.bias) == 0, f"{scheme}: biases start at zero"
            if scheme == "normal":
                expected_std = 0.01
            elif scheme == "he":
                expected_std = math.sqrt(2.0 / fan_in)
            else:
                bound = math.sqrt(6.0 / (fan_in + fan_out))
                assert w.abs().max() <= bound
                expected_std = bound / math.sqrt(3.0)  # std of U(-bound, bound)
            assert w.std().item() == pytest.approx(expected_std, rel=0.15), (scheme, tuple(w.shape))


@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("arch", ["mlp_128_64", "cnn"])
def test_every_init_trains_a_few_steps(init, arch, small_data_dir):
    result, events = run(quick(arch=arch, init=init, max_steps=3), small_data_dir)
    assert result.status == "finished", result.message
    assert all(math.isfinite(e["loss"]) for e in events if e["type"] == "step")


# -- determinism and events -------------------------------------------------------------------


@pytest.mark.parametrize("arch, augment_on", [("softmax", True), ("cnn", False), ("convnet", True)])
def test_same_seed_gives_identical_history_and_weights(arch, augment_on, small_data_dir):
    cfg = quick(arch=arch, augment=augment_on, epochs=2, max_steps=14, seed=5)
    a, _ = run(cfg, small_data_dir)
    b, _ = run(cfg, small_data_dir)
    assert a.status == b.status == "finished"
    assert without_timings(a.history) == without_timings(b.history)
    assert same_weights(weights(a.model), weights(b.model))
    c, _ = run(TrainConfig(**{**cfg.to_dict(), "seed": 6}), small_data_dir)
    assert not same_weights(weights(a.model), weights(c.model)), "another seed must give another run"


def test_events_carry_their_fields_in_order(small_data_dir, tmp_path):
    cfg = quick(epochs=2, log_every=3)  # 10 steps an epoch, 20 in all
    result, events = run(cfg, small_data_dir)
    kinds = [e["type"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end"
    assert kinds.count("start") == kinds.count("end") == 1 and kinds.count("epoch") == 2

    start = events[0]
    assert start == {
        "type": "start",
        "total_steps": 20,
        "steps_per_epoch": 10,
        "epochs": 2,
        "device": "cpu",
        "train_images": 600,
    }

    steps = [e for e in events if e["type"] == "step"]
    assert [e["step"] for e in steps] == [3, 6, 9, 12, 15, 18, 20]  # every log_every, and the last
    for e in steps:
        assert set(e) == {
            "type",
            "step",
            "total_steps",
            "epoch",
            "loss",
            "train_accuracy",
            "lr",
            "elapsed",
            "images_per_sec",
        }
        assert e["total_steps"] == 20 and e["epoch"] == pytest.approx(e["step"] / 10)
        assert math.isfinite(e["loss"]) and e["lr"] == cfg.lr and e["images_per_sec"] > 0
        assert 0 <= e["train_accuracy"] <= 1
    assert all(a["elapsed"] <= b["elapsed"] for a, b in pairwise(steps))
    assert [[e["step"], e["epoch"], e["loss"]] for e in steps] == [p[:3] for p in result.history["steps"]]
    # the running accuracy: the epoch's batches so far, so a step that ends an epoch shows that epoch's figure
    assert result.history["step_accuracy"] == [[e["step"], e["epoch"], e["train_accuracy"]] for e in steps]
    for e in steps:
        if e["step"] % 10 == 0:
            n = e["step"] // 10
            assert e["train_accuracy"] == pytest.approx(result.history["epochs"][n - 1]["train_accuracy"], abs=1e-4)

    epochs = [e for e in events if e["type"] == "epoch"]
    test = data.load("mnist", train=False, root=small_data_dir)
    for n, e in enumerate(epochs, 1):
        assert set(e) == {
            "type",
            "epoch",
            "train_loss",
            "train_accuracy",
            "test_loss",
            "test_accuracy",
            "seconds",
            "images_per_sec",
            "load_1min",
            "step",
            "total_steps",
        }
        assert e["epoch"] == n and e["step"] == 10 * n and e["total_steps"] == 20
        assert 0 <= e["train_accuracy"] <= 1 and 0 <= e["test_accuracy"] <= 1
        assert e == {"type": "epoch", **result.history["epochs"][n - 1], "step": 10 * n, "total_steps": 20}
    # the machine's load at each epoch's end, and the highest seen kept with the model: a long run's early
    # minutes of other work show in its seconds, and the load at its end alone would miss them
    if hasattr(os, "getloadavg"):
        saved = checkpoints.read(result.save(tmp_path / "loads.pt"))["metrics"]
        seen = [e["load_1min"] for e in epochs] + [saved["load_1min"]]
        assert saved["load_1min_max"] == max(seen)
    loss, acc = evaluation.loss_and_accuracy(result.model, test)
    assert (epochs[-1]["test_loss"], epochs[-1]["test_accuracy"]) == pytest.approx((loss, acc))

    end = events[-1]
    assert set(end) == {"type", "status", "message", "test_accuracy", "train_seconds"}
    assert end["status"] == result.status == "finished"
    assert end["test_accuracy"] == result.test_accuracy == epochs[-1]["test_accuracy"]
    assert end["train_seconds"] == result.train_seconds >= epochs[-1]["seconds"] - 0.001  # that one is rounded


def test_evaluate_matches_a_direct_computation(small_data_dir):
    torch.manual_seed(1)
    model = build("mlp_128_64").eval()
    split = data.load("mnist", train=False, root=small_data_dir)
    loss, acc = evaluation.loss_and_accuracy(model, split, batch_size=128)  # 300 images: three batches, one partial
    x = (split.images.float().unsqueeze(1) / 255.0 - data.MEAN) / data.STD
    with torch.no_grad():
        logits = model(x)
    assert loss == pytest.approx(nn.functional.cross_entropy(logits, split.labels).item(), rel=1e-5)
    assert acc == (logits.argmax(1) == split.labels).sum().item() / len(split)


# -- stopping ---------------------------------------------------------------------------------


class StopAfter:
    """should_stop that answers False `calls` times, then True: a flag set during step `calls`."""

    def __init__(self, calls: int):
        self.calls, self.asked = calls, 0

    def __call__(self) -> bool:
        self.asked += 1
        return self.asked > self.calls


def assert_not_usable(result, tmp_path):
    assert not result.usable and result.test_accuracy is None
    out = tmp_path / "not-saved.pt"
    with pytest.raises(ValueError, match=f"not saving a {result.status} run"):
        result.save(out)
    assert not out.exists()


def test_stop_before_the_first_step(small_data_dir, tmp_path):
    result, events = run(quick(), small_data_dir, should_stop=lambda: True)
    assert result.status == "stopped" and "at step 0" in result.message
    assert result.history == {"steps": [], "epochs": [], "step_accuracy": []}
    assert [e["type"] for e in events] == ["start", "end"] and events[-1]["status"] == "stopped"
    assert_not_usable(result, tmp_path)


def assert_kept_as_it_was(result, small_data_dir, tmp_path, epoch: float):
    """Stopped before the first evaluation: the model was measured as it was, and that is what is saved."""
    assert result.usable and "measured and kept the model as it was" in result.message, result.message
    (rec,) = result.history["epochs"]
    assert rec["epoch"] == pytest.approx(epoch)
    model, meta = checkpoints.load(result.save(tmp_path / "kept.pt"))
    loss, acc = evaluation.loss_and_accuracy(model, data.load("mnist", train=False, root=small_data_dir))
    assert meta["metrics"]["test_accuracy"] == result.test_accuracy == rec["test_accuracy"] == acc
    assert meta["metrics"]["status"] == "stopped"


def test_stop_during_the_first_step_is_honoured_before_the_second(small_data_dir, tmp_path):
    stop = StopAfter(1)  # the check before step 1 passes; the flag is up when step 2 would start
    result, events = run(quick(), small_data_dir, should_stop=stop)
    assert result.status == "stopped" and "at step 1" in result.message, result.message
    assert [e["step"] for e in events if e["type"] == "step"] == [1]
    assert stop.asked == 2
    assert [e["type"] for e in events].count("epoch") == 1  # the measurement is announced like an epoch's
    assert_kept_as_it_was(result, small_data_dir, tmp_path, epoch=0.1)


def test_stop_during_evaluation(small_data_dir, tmp_path):
    flag = {"up": False}

    def on_event(e):
        if e["type"] == "step" and e["step"] == e["total_steps"]:
            flag["up"] = True  # every training step is done: the next check is in evaluation

    result = train(quick(), data_root=small_data_dir, on_event=on_event, should_stop=lambda: flag["up"])
    assert result.status == "stopped" and "at step 10" in result.message
    assert len(result.history["steps"]) == 10
    assert_kept_as_it_was(result, small_data_dir, tmp_path, epoch=1.0)  # the interrupted evaluation, made whole

    test = data.load("mnist", train=False, root=small_data_dir)
    with pytest.raises(evaluation.Stopped):
        evaluation.loss_and_accuracy(result.model, test, batch_size=100, should_stop=StopAfter(1))


# should_stop is asked before each of epoch 1's 10 steps, once in its evaluation (300 images), and so on
@pytest.mark.parametrize("calls, step", [(15, 14), (21, 20)], ids=["mid-epoch-2", "in-evaluation-2"])
def test_a_run_stopped_after_an_evaluation_saves_what_it_measured(calls, step, small_data_dir, tmp_path):
    # Stopped after epoch 1 was evaluated: the checkpoint's accuracy must describe its weights.
    cfg = quick(epochs=3, lr=0.5, optimizer="sgd")
    result, _ = run(cfg, small_data_dir, should_stop=StopAfter(calls))
    assert result.status == "stopped" and f"at step {step}" in result.message, result.message
    assert "kept the model as evaluated at epoch 1" in result.message
    assert result.usable and len(result.history["epochs"]) == 1
    path = result.save(tmp_path / "stopped.pt")
    model, meta = checkpoints.load(path)
    test = data.load("mnist", train=False, root=small_data_dir)
    loss, acc = evaluation.loss_and_accuracy(model, test)
    assert meta["metrics"]["test_accuracy"] == result.test_accuracy == acc
    assert result.history["epochs"][-1]["test_loss"] == pytest.approx(loss, rel=1e-6)
    assert meta["metrics"]["status"] == "stopped"


# -- divergence -------------------------------------------------------------------------------


def test_a_diverging_learning_rate_is_reported_with_its_step_and_not_saved(small_data_dir, tmp_path):
    # lr 1e6 is refused by validation (above); the largest allowed rate with momentum blows up an MLP
    cfg = quick(arch="mlp", optimizer="sgd_momentum", lr=10.0, epochs=3, train_limit=0)
    result, events = run(cfg, small_data_dir)
    assert result.status == "diverged", result.message
    m = re.search(r"at step (\d+)", result.message)
    assert m, result.message
    finite = [e["step"] for e in events if e["type"] == "step"]
    assert int(m.group(1)) == len(finite) + 1  # log_every=1: the first non-finite step is named
    assert finite == list(range(1, len(finite) + 1))
    assert all(math.isfinite(p[2]) for p in result.history["steps"])
    assert events[-1]["type"] == "end" and events[-1]["status"] == "diverged"
    assert_not_usable(result, tmp_path)


# -- augmentation -----------------------------------------------------------------------------


def test_augmentation_keeps_shape_and_range_and_is_seeded(small_data_dir):
    x = data.load("mnist", train=True, root=small_data_dir).images[:64].unsqueeze(1).float() / 255.0
    a = augment.augment_batch(x.clone(), torch.Generator().manual_seed(3))
    b = augment.augment_batch(x.clone(), torch.Generator().manual_seed(3))
    c = augment.augment_batch(x.clone(), torch.Generator().manual_seed(4))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert a.min() >= 0 and a.max() <= 1 and torch.isfinite(a).all()
    assert torch.equal(a, b), "the same generator seed must give the same batch"
    assert not torch.equal(a, c) and not torch.equal(a, x)
    # each image keeps some ink (a digit is moved and warped, not thrown off the canvas)
    assert (a.flatten(1).amax(1) > 0.5).all()
    # blank stays blank
    blank = torch.zeros(4, 1, 28, 28)
    assert torch.equal(augment.augment_batch(blank, torch.Generator().manual_seed(0)), blank)


def test_augmentation_changes_training(small_data_dir):
    plain, _ = run(quick(max_steps=5), small_data_dir)
    aug, _ = run(quick(max_steps=5, augment=True), small_data_dir)
    assert not same_weights(weights(plain.model), weights(aug.model))


# -- limits and learning ----------------------------------------------------------------------


def test_max_steps_and_train_limit_are_respected(small_data_dir):
    cfg = quick(train_limit=200, batch_size=50, epochs=3, max_steps=5)  # 4 steps an epoch
    result, events = run(cfg, small_data_dir)
    assert result.status == "finished"
    assert events[0]["train_images"] == 200 and events[0]["steps_per_epoch"] == 4
    assert events[0]["total_steps"] == 5
    assert [e["step"] for e in events if e["type"] == "step"] == [1, 2, 3, 4, 5]
    # epoch 1 is evaluated, then the run stops one step into epoch 2 and evaluates that
    assert [e["epoch"] for e in result.history["epochs"]] == [1.0, 1.25]
    assert "finished 5 steps" in result.message


def test_train_limit_larger_than_the_data_uses_all_of_it(small_data_dir):
    result, events = run(quick(train_limit=10**6, max_steps=1), small_data_dir)
    assert events[0]["train_images"] == len(data.load("mnist", train=True, root=small_data_dir))


def test_a_small_run_learns(small_data_dir):
    test = data.load("mnist", train=False, root=small_data_dir)
    chance = torch.bincount(test.labels, minlength=10).max().item() / len(test)  # the majority class
    result, _ = run(quick(arch="mlp_128_64", epochs=3, train_limit=0, log_every=5), small_data_dir)
    assert result.status == "finished"
    assert result.test_accuracy > 3 * chance, (result.test_accuracy, chance)
    first_losses = [p[2] for p in result.history["steps"][:2]]
    assert result.history["epochs"][-1]["train_loss"] < min(first_losses)


@pytest.mark.realdata
def test_a_short_run_on_real_mnist_learns(real_data_dir):
    result, _ = run(recipes.recommended("softmax", device="cpu", max_steps=100, log_every=50), real_data_dir)
    assert result.status == "finished"
    assert result.history["epochs"][-1]["epoch"] == pytest.approx(100 / math.ceil(60000 / 128), abs=1e-4)
    assert result.test_accuracy > 0.8, result.test_accuracy  # softmax regression reaches about 0.92


def test_a_given_model_is_trained_in_place_of_a_new_one(small_data_dir):
    """train(..., model=net): a benchmark's own network trained by the engine (bench/train_speed.py)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    before = net[1].weight.detach().clone()
    cfg = TrainConfig(arch="softmax", optimizer="adam", lr=0.01, batch_size=100, epochs=3, seed=0, device="cpu")
    result = train(cfg, data_root=small_data_dir, model=net)
    assert result.model is net and result.status == "finished"
    assert not torch.equal(before, net[1].weight.detach())
    assert result.test_accuracy > 0.5


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.5])
def test_label_smoothing_sets_the_training_loss(smoothing, small_data_dir):
    """The first logged loss is the smoothed cross-entropy of the seeded net on the first batch."""
    cfg = quick(arch="cnn", label_smoothing=smoothing, max_steps=1, seed=3)
    result, events = run(cfg, small_data_dir)
    (step,) = [e for e in events if e["type"] == "step"]
    torch.manual_seed(cfg.seed)
    net = build(cfg.arch).train()
    split = data.load("mnist", train=True, root=small_data_dir)
    idx = torch.randperm(cfg.train_limit, generator=torch.Generator().manual_seed(cfg.seed))[: cfg.batch_size]
    logits = net(data.normalize(split.images[idx]))
    expected = nn.functional.cross_entropy(logits, split.labels[idx], label_smoothing=smoothing).item()
    plain = nn.functional.cross_entropy(logits, split.labels[idx]).item()
    assert step["loss"] == pytest.approx(expected, rel=1e-4)
    assert smoothing == 0 or abs(step["loss"] - plain) > 1e-3


@pytest.mark.parametrize("arch", ["cnn", "convnet", "lstm", "mlp"])
def test_a_trained_model_comes_back_with_plain_contiguous_weights(arch, small_data_dir, tmp_path):
    """Training runs conv nets channels-last on the CPU; the result and its checkpoint do not."""
    result, _ = run(quick(arch=arch, max_steps=2), small_data_dir)
    assert all(t.is_contiguous() for t in result.model.state_dict().values())
    loaded, _ = checkpoints.load(result.save(tmp_path / f"{arch}.pt"))
    assert same_weights(weights(loaded), weights(result.model))


@pytest.mark.parametrize("arch", ["cnn", "lenet", "convnet", "simple_convnet"])
def test_conv_nets_train_channels_last_on_the_cpu(arch, small_data_dir, monkeypatch):
    layouts = []

    def build_watched(name: str, args: dict | None = None) -> nn.Module:
        net = build(name, args)
        conv = next(m for m in net.modules() if isinstance(m, nn.Conv2d))  # its output has many channels
        conv.register_forward_hook(
            lambda m, i, out: layouts.append(
                out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous()
            )
        )
        return net

    monkeypatch.setattr(training, "build", build_watched)
    result, _ = run(quick(arch=arch, max_steps=2), small_data_dir)
    assert result.status == "finished" and layouts and all(layouts)


# -- weight averaging -------------------------------------------------------------------------


@pytest.mark.parametrize("value", [-0.1, 1.0, "0.9", True])
def test_ema_out_of_range_is_a_clear_error(value):
    with pytest.raises(ValueError, match="ema"):
        TrainConfig(ema=value)


@pytest.mark.parametrize("stop_calls", [None, 15], ids=["finished", "stopped-mid-epoch-2"])
def test_averaged_weights_are_what_is_evaluated_and_kept(stop_calls, small_data_dir, tmp_path):
    """With `ema` the moving average of the weights is evaluated and returned: its checkpoint reads the
    recorded accuracy, and it is not the last step's weights (those are what a run without it keeps)."""
    cfg = quick(arch="cnn", epochs=3, ema=0.9)
    stop = StopAfter(stop_calls) if stop_calls else None
    result, _ = run(cfg, small_data_dir, should_stop=stop)
    plain, _ = run(replace(cfg, ema=0.0), small_data_dir, should_stop=StopAfter(stop_calls) if stop_calls else None)
    assert result.usable and result.status == ("stopped" if stop_calls else "finished")
    model, meta = checkpoints.load(result.save(tmp_path / "ema.pt"))
    loss, acc = evaluation.loss_and_accuracy(model, data.load("mnist", train=False, root=small_data_dir))
    assert meta["metrics"]["test_accuracy"] == result.test_accuracy == acc
    assert result.history["epochs"][-1]["test_loss"] == pytest.approx(loss, rel=1e-6)
    assert without_timings(result.history)["steps"] == without_timings(plain.history)["steps"]  # same training
    assert not same_weights(weights(result.model), weights(plain.model))  # but another model kept


def test_a_short_run_with_a_long_average_is_not_its_starting_weights(small_data_dir):
    """cnn's recipe averages over ~1,000 steps (ema 0.999); a run of 20 steps with it is still a trained model:
    the average spans at most a fifth of the run."""
    cfg = quick(arch="mlp_128_64", epochs=2, ema=0.999)
    averaged, _ = run(cfg, small_data_dir)
    plain, _ = run(replace(cfg, ema=0.0), small_data_dir)
    untrained, _ = run(replace(cfg, ema=0.0, lr=1e-12), small_data_dir)
    assert plain.test_accuracy > untrained.test_accuracy + 0.3
    assert averaged.test_accuracy >= plain.test_accuracy - 0.05
