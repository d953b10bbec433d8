"""mnist_core.models: the registry matches DESIGN.md and the architectures match the tutorials.

Expected parameter counts are worked out by hand from the layer sizes in issue 2 (weights +
biases per layer), not read from the code.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mnist_core import models, recipes
from mnist_core.config import TrainConfig

# DESIGN.md, "Architecture names (registry keys)"
DESIGN_NAMES = ["softmax", "mlp", "mlp_128_64", "mlp_128_256", "convnet", "lenet", "lstm", "simple_convnet", "cnn"]


def linear(n_in: int, n_out: int, bias: bool = True) -> int:
    return n_in * n_out + (n_out if bias else 0)


def conv(c_in: int, c_out: int, k: int) -> int:
    return c_in * c_out * k * k + c_out


EXPECTED_PARAMS = {
    "softmax": linear(784, 10),  # 7,850
    "mlp": linear(784, 512, False) + linear(512, 512, False) + linear(512, 10, False),  # 668,672
    "mlp_128_64": linear(784, 128) + linear(128, 64) + linear(64, 10),  # 109,386
    "mlp_128_256": linear(784, 128) + linear(128, 256) + linear(256, 10),  # 136,074
    "convnet": conv(1, 10, 5) + conv(10, 20, 5) + linear(320, 50) + linear(50, 10),  # 21,840
    "lenet": conv(1, 6, 5) + conv(6, 16, 5) + linear(256, 120) + linear(120, 84) + linear(84, 10),  # 44,426
    # nn.LSTM: 4 gates x hidden x (input + hidden) weights, and two bias vectors (b_ih, b_hh)
    "lstm": 4 * 128 * (28 + 128) + 2 * 4 * 128 + linear(128, 10, False),  # 82,176
    "simple_convnet": conv(1, 30, 5) + linear(30 * 12 * 12, 100) + linear(100, 10),  # 433,890
}

# issue 2's reported tutorial results and tutorial recipes
REPORTED = {"softmax": 0.9768, "mlp": 0.9859, "convnet": 0.9910, "lenet": 0.874, "lstm": 0.9855}
TUTORIAL = {
    "mlp": dict(optimizer="adam", batch_size=100),
    "mlp_128_256": dict(optimizer="sgd", lr=0.001),
    "convnet": dict(optimizer="sgd_momentum", lr=0.01, momentum=0.9, batch_size=100),
    "lenet": dict(optimizer="adam", lr=0.01, batch_size=64),
    "lstm": dict(optimizer="sgd_momentum", lr=0.01, momentum=0.9),
    "simple_convnet": dict(optimizer="adam", lr=0.001),
}


def test_registry_holds_exactly_the_design_names():
    assert sorted(models.ARCHS) == sorted(DESIGN_NAMES)
    assert models.DEFAULT_ARCH == "cnn"
    for name, arch in models.ARCHS.items():
        assert arch.name == name and models.get_arch(name) is arch


def test_unknown_architecture_is_a_clear_value_error():
    with pytest.raises(ValueError, match="unknown architecture 'resnet'.*softmax"):
        models.build("resnet")


@pytest.mark.parametrize("name", DESIGN_NAMES)
def test_builds_and_maps_batches_to_ten_logits(name):
    torch.manual_seed(0)
    model = models.build(name)
    assert isinstance(model, nn.Module)
    for n in (1, 5):
        x = torch.randn(n, 1, 28, 28)
        model.train()
        assert model(x).shape == (n, 10)
        model.eval()
        with torch.inference_mode():
            out = model(x)
        assert out.shape == (n, 10) and out.dtype == torch.float32 and torch.isfinite(out).all()
    # gradients reach every parameter
    model.train()
    model(torch.randn(4, 1, 28, 28)).logsumexp(1).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", DESIGN_NAMES)
def test_each_build_is_a_fresh_model(name):
    a, b = models.build(name), models.build(name)
    assert all(pa.data_ptr() != pb.data_ptr() for pa, pb in zip(a.parameters(), b.parameters(), strict=True))


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMS))
def test_parameter_counts_match_the_tutorial_definitions(name):
    assert models.param_count(models.build(name)) == EXPECTED_PARAMS[name]
    assert models.ARCHS[name].params == EXPECTED_PARAMS[name]


def test_cnn_parameter_count_is_reported_consistently():
    count = models.param_count(models.build("cnn"))
    assert models.ARCHS["cnn"].params == count > 0


def test_layer_details_from_the_tutorials():
    def kinds(name):
        return [type(m) for m in models.build(name).modules()]

    # mlp: dropout 0.2 after each hidden layer, no biases anywhere
    mlp = models.build("mlp")
    assert [m.p for m in mlp.modules() if isinstance(m, nn.Dropout)] == [0.2, 0.2]
    assert not any(n.endswith("bias") for n, _ in mlp.named_parameters())
    # lenet: sigmoid activations as taught (four of them), no ReLU
    assert kinds("lenet").count(nn.Sigmoid) == 4 and nn.ReLU not in kinds("lenet")
    # lstm: 28 inputs per step (one image row), 128 hidden, a bias-free classifier
    lstm = models.build("lstm")
    rnn = next(m for m in lstm.modules() if isinstance(m, nn.LSTM))
    assert (rnn.input_size, rnn.hidden_size, rnn.num_layers) == (28, 128, 1)
    head = [m for m in lstm.modules() if isinstance(m, nn.Linear)]
    assert len(head) == 1 and head[0].bias is None and head[0].out_features == 10
    # convnet: two dropouts (one 2-d on conv2's maps)
    assert nn.Dropout2d in kinds("convnet") and nn.Dropout in kinds("convnet")


@pytest.mark.parametrize("name", DESIGN_NAMES)
def test_metadata_and_recipes(name):
    arch = models.ARCHS[name]
    for text in (arch.description, arch.source, arch.reported):
        assert isinstance(text, str) and text.strip()
    assert arch.reported_accuracy is None or 0 < arch.reported_accuracy < 1
    for fast in (True, False):
        recipe = (recipes.RECOMMENDED if fast else recipes.TUTORIAL)[name]
        assert recipe, f"{name} has no {'fast' if fast else 'tutorial'} recipe"
        assert "arch" not in recipe
        cfg = TrainConfig(arch=name, **recipe)  # validated on construction
        make = recipes.recommended if fast else recipes.tutorial
        assert make(name) == cfg
        assert make(name, epochs=1, seed=3) == TrainConfig(arch=name, **{**recipe, "epochs": 1, "seed": 3})


@pytest.mark.parametrize("name", sorted(REPORTED))
def test_reported_accuracy_is_the_tutorials(name):
    arch = models.ARCHS[name]
    assert math.isclose(arch.reported_accuracy, REPORTED[name])
    assert f"{100 * REPORTED[name]:.2f}".rstrip("0").rstrip(".") in arch.reported


@pytest.mark.parametrize("name", sorted(TUTORIAL))
def test_tutorial_recipes_are_the_tutorials(name):
    cfg = recipes.tutorial(name)
    for key, value in TUTORIAL[name].items():
        assert getattr(cfg, key) == value, f"{name}: tutorial {key} should be {value}"


def test_the_catalog_counts_each_networks_parameters_without_building_it():
    """`archs` answers without torch from catalog.param_count: it must agree with the built network, for
    every architecture and every width and depth a cnn may have."""
    from mnist_core import catalog, data

    assert list(catalog.ARCHS) == list(models.ARCHS) and tuple(data.DATASETS) == catalog.DATASETS
    for name in models.ARCHS:
        assert catalog.param_count(name) == models.param_count(models.build(name)), name
    lo, hi = catalog.ARCHS["cnn"].arg_ranges["width"]
    for width in range(lo, hi + 1):
        for depth in (2, 3):
            built = models.param_count(models.build("cnn", {"width": width, "depth": depth}))
            assert catalog.param_count("cnn", {"width": width, "depth": depth}) == built, (width, depth)
    with pytest.raises(ValueError, match="from 4 to 64"):
        catalog.param_count("cnn", {"width": 65})
    with pytest.raises(ValueError, match="from 2 to 3"):
        catalog.param_count("cnn", {"depth": 4})
