"""Inside a network: its structure, what each layer makes of one input, what it learned, and why it
reads the digit it reads.

- `structure(arch)`: the layer table of an architecture for one 28x28 input (torchinfo, the tool the
  tutorials print their tables with), built on a fresh model of the registry, never a loaded one.
- `activations(model, x28)`: every layer's output for one input, from the input to the probabilities.
- `learned_weights(model)`: the softmax model's ten templates, the first conv layer's filters, the
  first dense layer's units, as (K, H, W) stacks of images.
- `attribution(model, x28, method)`: Saliency, Integrated Gradients and Grad-CAM (Captum).

A loaded model is shared by every session of the app (lab_ui caches one per checkpoint) and must
never change: forward hooks (activations, Grad-CAM) go on a private copy (copy.deepcopy) made for
the call, so another session's prediction never runs through them. Saliency and Integrated
Gradients need no hooks: they take gradients with respect to the input only.

Inputs are (28, 28) float arrays in [0, 1], light ink on dark, as preprocess returns them; a blank
input (None, or no ink) gives None, for the page to prompt. Never imports streamlit.
"""

from __future__ import annotations

import copy
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from . import data
from .models import build

ACTIVATIONS = (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.LeakyReLU, nn.GELU, nn.ELU)
POOLS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
METHODS = {
    "saliency": "Saliency",
    "integrated_gradients": "Integrated Gradients",
    "grad_cam": "Grad-CAM",
}


def is_blank(x28) -> bool:
    return x28 is None or not np.any(np.asarray(x28) > 0)


def _tensor(x28) -> torch.Tensor:
    """(28, 28) in [0, 1] -> (1, 1, 28, 28) float32, not normalised."""
    return torch.as_tensor(np.asarray(x28, np.float32)).reshape(1, 1, 28, 28).clone()


def _normalised(x: torch.Tensor) -> torch.Tensor:
    return (x - data.MEAN) / data.STD


def _private(model: nn.Module) -> nn.Module:
    """A copy of the shared model for this call only: hooks may go on it (a few ms: < 1 M weights)."""
    return copy.deepcopy(model).eval()


# --- structure ---------------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _structure(arch: str, args: tuple) -> tuple[tuple[dict, ...], int, int]:
    import torchinfo

    model = build(arch, dict(args)).eval()
    stats = torchinfo.summary(
        model, input_size=(1, 1, 28, 28), verbose=0, device="cpu", col_names=("output_size", "num_params")
    )
    rows = tuple(
        {
            "layer": info.var_name,
            "type": info.class_name,
            "depth": info.depth,
            "output_shape": tuple(int(s) for s in info.output_size),
            "params": int(info.num_params),
        }
        for info in stats.summary_list
        if info.depth >= 1
    )
    return rows, int(stats.total_params), int(stats.trainable_params)


def structure(arch: str, arch_args: dict | None = None) -> dict:
    """The layer table of an architecture built with `arch_args` (a checkpoint's recorded builder
    arguments, e.g. a cnn's width; none: the builder's defaults) for one (1, 1, 28, 28) input, as torchinfo
    prints it: {"rows": [{"layer", "type", "depth", "output_shape" (with the batch of 1 first), "params"}],
    "total": parameters, "trainable": trainable parameters}. Cached per architecture and arguments."""
    rows, total, trainable = _structure(arch, tuple(sorted((arch_args or {}).items())))
    return {"rows": [dict(r) for r in rows], "total": total, "trainable": trainable}


def structure_rows(arch: str, arch_args: dict | None = None) -> list[dict]:
    """structure(arch, arch_args)'s rows as a table for a page: Layer, Type, Output shape, Parameters."""
    return [
        {
            "Layer": ("  " * (r["depth"] - 1)) + f"{r['layer']}",
            "Type": r["type"],
            "Output shape": " x ".join(map(str, r["output_shape"])),
            "Parameters": r["params"],
        }
        for r in structure(arch, arch_args)["rows"]
    ]


# --- activations -------------------------------------------------------------------------------


def _record(model: nn.Module, x: torch.Tensor) -> tuple[list[tuple[str, nn.Module, torch.Tensor]], torch.Tensor]:
    """Every leaf module's output, in the order the forward pass calls them, on a private copy."""
    private = _private(model)
    calls: list[tuple[str, nn.Module, torch.Tensor]] = []

    def hook(name):
        def keep(module, inputs, output):
            out = output[0] if isinstance(output, tuple) else output  # LSTM: (outputs, (h, c))
            calls.append((name, module, out.detach().clone()))  # clone: an in-place ReLU comes next

        return keep

    handles = [
        m.register_forward_hook(hook(name)) for name, m in private.named_modules() if name and not list(m.children())
    ]
    try:
        with torch.inference_mode():
            logits = private(_normalised(x))
    finally:
        for h in handles:
            h.remove()
    return calls, logits


def _stage(name: str, kind: str, values: torch.Tensor, caption: str) -> dict:
    return {
        "name": name,
        "kind": kind,
        "shape": tuple(values.shape),
        "values": values.numpy().astype(np.float32),
        "caption": caption,
    }


def activations(model: nn.Module, x28) -> list[dict] | None:
    """What each layer makes of one input, from the input to the probabilities; None for a blank input.

    A list of stages, each {"name", "kind", "shape", "values", "caption"}, kind one of
    - "input": (28, 28), the model's input;
    - "maps": (C, H, W) feature maps of a conv layer after its activation, and after pooling;
    - "units": (K,) a dense layer's units after their activation;
    - "sequence": (28, hidden), the LSTM's hidden state after reading each of the 28 rows;
    - "probs": (10,) the digits' probabilities (softmax of the last layer's ten digit outputs).
    The model runs on a private copy with hooks; the shared model is never touched.
    """
    if is_blank(x28):
        return None
    x = _tensor(x28)
    calls, logits = _record(model, x)
    stages = [_stage("input", "input", x[0, 0], "The model's 28 x 28 input, as the Draw page prepared it.")]
    block = "input"
    for i, (name, module, out) in enumerate(calls):
        nxt = calls[i + 1][1] if i + 1 < len(calls) else None
        if isinstance(module, (nn.Conv2d, nn.Linear, nn.LSTM)):
            block = f"{name}: {type(module).__name__}"
        if isinstance(module, nn.LSTM):
            stages.append(
                _stage(
                    block,
                    "sequence",
                    out[0],
                    "The LSTM's hidden state after reading each image row: "
                    "one line per row of the image, top to bottom, one column per hidden unit (red "
                    "positive, blue negative). The state after the last row decides the digit.",
                )
            )
        elif isinstance(module, ACTIVATIONS) and out.dim() == 4:
            pooled = (
                " (pooled first)" if any(s["name"].startswith(block) and "pool" in s["name"] for s in stages) else ""
            )
            stages.append(
                _stage(
                    f"{block} → {type(module).__name__}{pooled}",
                    "maps",
                    out[0],
                    f"{out.shape[1]} feature maps of {out.shape[2]} x {out.shape[3]}, after the "
                    "activation: each map lights up where its filter finds its pattern.",
                )
            )
        elif isinstance(module, POOLS) and out.dim() == 4:
            stages.append(
                _stage(
                    f"{block} → pool",
                    "maps",
                    out[0],
                    f"The same maps pooled to {out.shape[2]} x {out.shape[3]}: each pixel keeps the "
                    "strongest response of its 2 x 2 patch, so a pattern may move a little.",
                )
            )
        elif isinstance(module, ACTIVATIONS) and out.dim() == 2 and nxt is not None:
            stages.append(
                _stage(
                    f"{block} → {type(module).__name__}",
                    "units",
                    out[0],
                    f"The {out.shape[1]} units of this dense layer: each bar is one unit's output, "
                    "a weighted sum of everything before it, after the activation.",
                )
            )
    probs = torch.softmax(logits[:, :10], 1)[0]
    said = "The last layer's ten outputs, turned into probabilities by the softmax: the largest is the prediction."
    if logits.shape[1] > 10:  # an 11th, "not a digit" output: its share of all eleven
        other = float(torch.softmax(logits, 1)[0, 10])
        said = (
            "The last layer's first ten outputs, turned into probabilities by the softmax: the largest is the "
            f'digit it reads. Its 11th output says "not a digit": {other:.0%} of all eleven\'s probability here.'
        )
    stages.append(_stage("probabilities", "probs", probs, said))
    return stages


# --- learned weights ---------------------------------------------------------------------------


def _first(model: nn.Module, kind) -> nn.Module | None:
    return next((m for m in model.modules() if isinstance(m, kind)), None)


def learned_weights(model: nn.Module) -> dict | None:
    """The first layer's weights as images: {"kind", "images" (K, H, W) float32, "caption"}, or None
    for a model whose first layer has no image-shaped weights (the LSTM reads rows, not pixels).

    kind: "templates" (softmax: one 28 x 28 template per digit), "filters" (the first conv layer's
    k x k filters, averaged over input channels) or "units" (an MLP's first dense layer, one 28 x 28
    image per unit). Only reads the weights (a copy); the shared model is not changed."""
    conv, linear = _first(model, nn.Conv2d), _first(model, nn.Linear)
    if conv is not None:
        w = conv.weight.detach().float().mean(1)  # (out, k, k)
        return {
            "kind": "filters",
            "images": w.numpy().copy(),
            "caption": (
                f"The {w.shape[0]} filters of the first conv layer, {w.shape[1]} x {w.shape[2]} pixels each: red "
                "weights add where the input has ink, blue ones subtract. Each filter slides over the digit and its "
                "feature map lights up where the ink matches its pattern: edges and strokes at an angle."
            ),
        }
    if linear is not None and linear.in_features == 28 * 28 and _first(model, nn.LSTM) is None:
        w = linear.weight.detach().float().reshape(-1, 28, 28)
        if linear.out_features == 10 and sum(isinstance(m, nn.Linear) for m in model.modules()) == 1:
            return {
                "kind": "templates",
                "images": w.numpy().copy(),
                "caption": (
                    "One 28 x 28 template per digit, 0 to 9: a digit's score is the sum of the input's pixels times "
                    "its template. Red pixels vote for the digit when they hold ink, blue ones against it: the "
                    "blurred shape of each digit appears, with the other digits' strokes in blue."
                ),
            }
        return {
            "kind": "units",
            "images": w.numpy().copy(),
            "caption": (
                f"The weights of the first dense layer's {w.shape[0]} units, each over the 28 x 28 input: a unit "
                "fires when the ink falls on its red pixels and not on its blue ones. Most look like noisy "
                "pieces of strokes; the layers after them combine those pieces into digits."
            ),
        }
    return None


# --- attributions (Captum) ---------------------------------------------------------------------


def _forward(model: nn.Module):
    return lambda x: model(_normalised(x))


def last_conv(model: nn.Module) -> nn.Conv2d | None:
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1] if convs else None


def attribution(model: nn.Module, x28, method: str, target: int | None = None) -> np.ndarray | None:
    """How much each of the 28 x 28 input pixels counts for the score of `target` (default: the
    predicted digit), by Captum's `method`; None for a blank input, or Grad-CAM on a model with no
    conv layer.

    - "saliency": |d score / d pixel| scaled to [0, 1]; bright where a small change moves the score
      most, which may be off the stroke (where ink would change the reading).
    - "integrated_gradients": gradients averaged along the path from a blank image to the input,
      times the input: signed, scaled to [-1, 1]; on the ink only; the values add up to the score's
      change from the blank image.
    - "grad_cam": the last conv layer's maps weighted by their gradients, ReLU, upsampled to 28 x 28
      and scaled to [0, 1]: where, coarsely, the evidence for the digit was found.
    """
    from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, Saliency

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    if is_blank(x28):
        return None
    x = _tensor(x28)
    with torch.enable_grad():
        if target is None:
            with torch.inference_mode():
                target = int(model(_normalised(x))[:, :10].argmax())  # a digit (not an 11th output)
        if method == "saliency":  # no hooks: gradients with respect to the input only
            a = Saliency(_forward(model)).attribute(x.requires_grad_(), target=int(target), abs=True)
        elif method == "integrated_gradients":
            a = IntegratedGradients(_forward(model)).attribute(
                x, baselines=torch.zeros_like(x), target=int(target), n_steps=32
            )
        else:
            private = _private(model)  # LayerGradCam hooks its layer: never on the shared model
            layer = last_conv(private)
            if layer is None:
                return None
            cam = LayerGradCam(_forward(private), layer).attribute(x, target=int(target), relu_attributions=True)
            a = LayerAttribution.interpolate(cam.detach(), (28, 28), interpolate_mode="bilinear")
    a = a.detach()[0, 0].numpy().astype(np.float32)
    peak = float(np.abs(a).max())
    return a / peak if peak > 0 else a


# --- images for a page (uint8 arrays) ------------------------------------------------------------


def grid(stack: np.ndarray, cols: int | None = None, cell: int = 56, pad: int = 2, signed: bool = False) -> np.ndarray:
    """(K, H, W) -> one uint8 image of the K maps in a grid, each enlarged to about `cell` pixels with
    sharp pixels. Unsigned: gray, scaled together (0 black, the stage's largest value white), so maps
    compare; signed: blue (negative) - black - red (positive), scaled by the largest magnitude."""
    stack = np.asarray(stack, np.float32)
    k, h, w = stack.shape
    cols = cols or int(np.ceil(np.sqrt(k)))
    rows = -(-k // cols)
    scale = max(1, cell // max(h, w))
    tiles = np.kron(stack, np.ones((scale, scale), np.float32))  # (K, h*s, w*s)
    th, tw = tiles.shape[1:]
    if signed:
        peak = float(np.abs(stack).max()) or 1.0
        rgb = colour(tiles / peak)
    else:
        lo, hi = min(float(stack.min()), 0.0), float(stack.max())
        g = (tiles - lo) / (hi - lo) if hi > lo else np.zeros_like(tiles)
        rgb = np.repeat(g[..., None], 3, -1)
    out = np.full((rows * (th + pad) + pad, cols * (tw + pad) + pad, 3), 0.35, np.float32)  # gray gutters
    for i in range(k):
        r, c = divmod(i, cols)
        out[pad + r * (th + pad) : pad + r * (th + pad) + th, pad + c * (tw + pad) : pad + c * (tw + pad) + tw] = rgb[i]
    return (np.clip(out, 0, 1) * 255).astype(np.uint8)


def colour(a: np.ndarray) -> np.ndarray:
    """Signed values in [-1, 1] -> float RGB in [0, 1]: red for positive, blue for negative, black 0."""
    a = np.clip(np.asarray(a, np.float32), -1, 1)
    pos, neg = np.clip(a, 0, 1), np.clip(-a, 0, 1)
    return np.stack([pos, 0.25 * np.maximum(pos, neg), neg], -1)  # a little green: weak values stay visible


def strip(units: np.ndarray, per_row: int = 64, cell: int = 10) -> np.ndarray:
    """(K,) unit outputs -> uint8 gray image: rows of `per_row` squares, white the largest output."""
    u = np.asarray(units, np.float32).ravel()
    k = len(u)
    padded = np.full(-(-k // per_row) * per_row, np.nan, np.float32)
    padded[:k] = u
    lo, hi = min(float(u.min()), 0.0), float(u.max())
    g = (padded - lo) / (hi - lo) if hi > lo else np.zeros_like(padded)
    g = np.where(np.isnan(g), 0.2, g).reshape(-1, per_row)
    return (np.kron(g, np.ones((cell, cell), np.float32)) * 255).astype(np.uint8)


def heat(a: np.ndarray, cell: int = 10) -> np.ndarray:
    """(H, W) values -> uint8 RGB heat map (black - red - yellow), each value a `cell`-pixel square;
    negative values (Integrated Gradients' evidence against) in blue."""
    a = np.asarray(a, np.float32)
    peak = float(np.abs(a).max()) or 1.0
    h, n = np.clip(a / peak, 0, 1), np.clip(-a / peak, 0, 1)
    rgb = np.stack([np.clip(2 * h, 0, 1), np.clip(2 * h - 1, 0, 1), n], -1)
    return (np.kron(rgb, np.ones((cell, cell, 1), np.float32)) * 255).astype(np.uint8)
