"""mnist_core.inside on every architecture: the layer table against the real forward pass, the
activations of a known input (chained to the model's own output), the learned weights, Captum's
attributions, blank inputs, and the shared model left untouched (no hooks, same prediction).

Models are built from the registry with a fixed seed (untrained): the checks are about shapes and
consistency, not about reading digits, so they need no checkpoint and no dataset.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import digit_image
from torch import nn

from mnist_core import data, inference, inside
from mnist_core.models import ARCHS, build, param_count
from mnist_core.preprocess import preprocess

CONV = {"convnet", "lenet", "simple_convnet", "cnn"}


@pytest.fixture(scope="module")
def x3() -> np.ndarray:
    return preprocess(np.asarray(digit_image(3)))


def predictor(arch: str) -> inference.Predictor:
    torch.manual_seed(0)
    return inference.Predictor(build(arch), {"arch": arch}, arch, tta=False)  # the network's own reading


def leaf_shapes(model: nn.Module) -> dict[str, tuple]:
    """Each leaf module's output shape on one (1, 1, 28, 28) input, from hooks on this model."""
    shapes, handles = {}, []
    for name, m in model.named_modules():
        if name and not list(m.children()):

            def keep(mod, inp, out, name=name):
                out = out[0] if isinstance(out, tuple) else out
                shapes.setdefault(name, tuple(out.shape))

            handles.append(m.register_forward_hook(keep))
    with torch.inference_mode():
        model.eval()(torch.zeros(1, 1, 28, 28))
    for h in handles:
        h.remove()
    return shapes


@pytest.mark.parametrize("arch", list(ARCHS))
def test_the_layer_table_has_the_shapes_of_the_real_forward_pass(arch):
    table = inside.structure(arch)
    real = leaf_shapes(build(arch))
    rows = {r["layer"]: r for r in table["rows"]}
    assert set(real) <= set(rows), f"layers missing from the table: {set(real) - set(rows)}"
    for name, shape in real.items():
        assert rows[name]["output_shape"] == shape, name
    assert table["rows"][-1]["output_shape"] == (1, 10)
    assert table["total"] == param_count(build(arch)) == sum(r["params"] for r in table["rows"])
    shown = inside.structure_rows(arch)
    assert len(shown) == len(table["rows"]) and {"Layer", "Type", "Output shape", "Parameters"} <= set(shown[0])


def test_the_layer_table_follows_the_builders_arguments():
    wide = inside.structure("cnn", {"width": 24})
    assert wide["total"] == param_count(build("cnn", {"width": 24})) == 61_042
    assert wide["rows"][0]["output_shape"] == (1, 24, 14, 14)
    assert inside.structure("cnn")["total"] == inside.structure("cnn", {})["total"] == 29_178
    assert inside.structure_rows("cnn", {"width": 24})[0]["Output shape"] == "1 x 24 x 14 x 14"


def test_the_table_reads_as_the_tutorials_print_it():
    rows = {r["layer"]: r for r in inside.structure("lenet")["rows"]}
    assert rows["5"]["type"] == "MaxPool2d" and rows["5"]["output_shape"] == (1, 16, 4, 4)  # LeNet's conv block
    lstm = {r["layer"]: r for r in inside.structure("lstm")["rows"]}
    assert lstm["lstm"]["output_shape"] == (1, 28, 128) and lstm["lstm"]["params"] == 4 * 128 * (28 + 128 + 2)


@pytest.mark.parametrize("arch", list(ARCHS))
def test_activations_run_from_the_input_to_the_models_own_probabilities(arch, x3):
    p = predictor(arch)
    stages = inside.activations(p.model, x3)
    assert stages[0]["kind"] == "input" and np.array_equal(stages[0]["values"], x3)
    assert stages[-1]["kind"] == "probs"
    np.testing.assert_allclose(stages[-1]["values"], p.proba_batch(x3[None])[0], atol=1e-5)
    kinds = {s["kind"] for s in stages}
    assert ("maps" in kinds) == (arch in CONV)
    assert ("sequence" in kinds) == (arch == "lstm")
    for s in stages:
        assert s["values"].shape == s["shape"] and np.isfinite(s["values"]).all() and s["caption"]
    # the stage before the probabilities is what the last layer reads: chain it through that layer
    last = [m for m in p.model.modules() if isinstance(m, nn.Linear)][-1]
    before = stages[-2]
    v = before["values"][-1] if before["kind"] == "sequence" else before["values"].ravel()
    if before["kind"] != "input":  # the softmax model reads the input itself
        with torch.inference_mode():
            logits = last(torch.as_tensor(v)[None])
        np.testing.assert_allclose(torch.softmax(logits, 1)[0].numpy(), stages[-1]["values"], atol=1e-5)


def test_a_conv_nets_first_maps_are_its_first_block_on_the_input(x3):
    p = predictor("cnn")
    first = next(s for s in inside.activations(p.model, x3) if s["kind"] == "maps")
    with torch.inference_mode():
        want = p.model[:3](torch.as_tensor((x3 - data.MEAN) / data.STD).reshape(1, 1, 28, 28))[0]  # conv, BN, ReLU
    assert first["name"] == "0: Conv2d → ReLU" and first["shape"] == (16, 14, 14)
    np.testing.assert_allclose(first["values"], want.numpy(), atol=1e-5)
    convnet = [s for s in inside.activations(predictor("convnet").model, x3) if s["kind"] == "maps"]
    assert [s["shape"] for s in convnet] == [(10, 12, 12)] * 2 + [(20, 4, 4)] * 2  # pooled, then ReLU
    assert (convnet[1]["values"] >= 0).all()


@pytest.mark.parametrize("arch", list(ARCHS))
def test_learned_weights_are_the_first_layers_weights_as_images(arch):
    model = predictor(arch).model
    learned = inside.learned_weights(model)
    if arch == "lstm":
        assert learned is None
        return
    first_conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    first_linear = next(m for m in model.modules() if isinstance(m, nn.Linear))
    if first_conv is not None:
        assert learned["kind"] == "filters"
        np.testing.assert_allclose(learned["images"], first_conv.weight.detach().mean(1).numpy())
    else:
        assert learned["kind"] == ("templates" if arch == "softmax" else "units")
        assert learned["images"].shape == (first_linear.out_features, 28, 28)
        np.testing.assert_allclose(learned["images"][3].ravel(), first_linear.weight[3].detach().numpy())
    assert learned["caption"]
    picture = inside.grid(learned["images"][:64], signed=True)
    assert picture.dtype == np.uint8 and picture.ndim == 3


@pytest.mark.parametrize("arch", list(ARCHS))
def test_captum_attributions_have_the_inputs_shape(arch, x3):
    p = predictor(arch)
    for method in inside.METHODS:
        a = inside.attribution(p.model, x3, method)
        if method == "grad_cam" and arch not in CONV:
            assert a is None
            continue
        assert a.shape == (28, 28) and np.isfinite(a).all(), method
        peak = np.abs(a).max()  # scaled to 1; Grad-CAM's ReLU may leave nothing on an untrained net
        assert peak == pytest.approx(1.0) or (method == "grad_cam" and peak == 0), method
        if method != "integrated_gradients":
            assert a.min() >= 0, method
    assert inside.attribution(p.model, x3, "saliency", target=7).shape == (28, 28)
    with pytest.raises(ValueError):
        inside.attribution(p.model, x3, "lime")


def test_saliency_is_the_input_gradient_and_the_draw_pages_saliency_is_captums(x3):
    p = predictor("lenet")
    x = torch.tensor(x3.reshape(1, 1, 28, 28), requires_grad=True)
    with torch.enable_grad():
        logits = p.model((x - data.MEAN) / data.STD)
        (grad,) = torch.autograd.grad(logits[0, int(logits.argmax())], x)
    want = grad.abs()[0, 0].numpy()
    np.testing.assert_allclose(inside.attribution(p.model, x3, "saliency"), want / want.max(), atol=1e-5)
    np.testing.assert_allclose(p.saliency(x3), want / want.max(), atol=1e-5)
    ig = inside.attribution(p.model, x3, "integrated_gradients")
    assert np.all(ig[x3 == 0] == 0)  # input x gradient: no ink, no attribution


def test_a_blank_input_gives_none_for_the_page_to_prompt():
    model = predictor("cnn").model
    for blank in (None, np.zeros((28, 28), np.float32)):
        assert inside.is_blank(blank)
        assert inside.activations(model, blank) is None
        assert all(inside.attribution(model, blank, m) is None for m in inside.METHODS)
    assert not predictor("cnn").saliency(np.zeros((28, 28), np.float32)).any()
    assert inside.learned_weights(model) is not None  # the weights need no input


@pytest.mark.parametrize("arch", ["cnn", "convnet", "lstm", "mlp"])
def test_the_shared_model_gets_no_hooks_and_keeps_its_prediction(arch, x3):
    p = predictor(arch)
    before = p.proba_batch(x3[None])[0]
    weights = {k: v.clone() for k, v in p.model.state_dict().items()}
    inside.activations(p.model, x3)
    inside.learned_weights(p.model)
    for method in inside.METHODS:
        inside.attribution(p.model, x3, method)
    p.saliency(x3)
    for m in p.model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
    assert not p.model.training and not any(q.requires_grad for q in p.model.parameters())
    assert all(torch.equal(v, weights[k]) for k, v in p.model.state_dict().items())
    np.testing.assert_array_equal(p.proba_batch(x3[None])[0], before)


def test_the_picture_helpers_make_uint8_images():
    maps = np.random.default_rng(0).random((10, 12, 12), dtype=np.float32)
    g = inside.grid(maps, cell=48)
    assert g.dtype == np.uint8 and g.shape[2] == 3 and g.shape[1] > 4 * 48
    assert inside.strip(np.arange(100, dtype=np.float32), per_row=50, cell=4).shape == (8, 200)
    h = inside.heat(np.linspace(-1, 1, 28 * 28).reshape(28, 28), cell=2)
    assert h.shape == (56, 56, 3) and h[0, 0, 2] == 255 and h[-1, -1, 0] == 255  # blue against, red for


def test_a_network_with_a_not_a_digit_output_shows_ten_digits_and_names_the_eleventh():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 11)).eval()
    with torch.no_grad():
        net[3].bias[10] = 50.0  # "not a digit" far ahead of every digit
    x28 = preprocess(np.asarray(digit_image(3)))
    probs = inside.activations(net, x28)[-1]
    assert probs["kind"] == "probs" and probs["values"].shape == (10,)
    assert float(probs["values"].sum()) == pytest.approx(1.0, abs=1e-5)
    assert '11th output says "not a digit": 100%' in probs["caption"]
    heat = inside.attribution(net, x28, "saliency")  # explains the digit it reads, never the 11th output
    digit = int(np.argmax(probs["values"]))
    np.testing.assert_allclose(heat, inside.attribution(net, x28, "saliency", target=digit))
    assert not np.allclose(heat, inside.attribution(net, x28, "saliency", target=10))
