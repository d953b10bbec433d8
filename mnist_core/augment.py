"""Batch augmentation for models meant for drawn digits, applied on the training device.

Each image in the batch gets its own random affine (rotation, scale, shear, translation), an
optional smooth elastic warp, and a stroke-thickness change (grey-scale dilation or erosion),
all as batched tensor ops: one affine_grid + grid_sample and two max-pools per batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _uniform(n: int, lo: float, hi: float, gen: torch.Generator, device, *shape: int) -> torch.Tensor:
    return (torch.rand(n, *shape, generator=gen) * (hi - lo) + lo).to(device)


def augment_batch(
    x: torch.Tensor,
    gen: torch.Generator,
    rotate_deg: float = 15.0,
    scale: tuple[float, float] = (0.8, 1.1),
    shear: float = 0.25,
    translate: float = 0.12,
    elastic: float = 0.08,
    thickness: tuple[float, float] = (-0.7, 1.6),
) -> torch.Tensor:
    """x: (N, 1, 28, 28) ink in [0, 1] -> augmented batch of the same shape.

    `translate` and `elastic` are fractions of the half-width; `thickness` t < 0 erodes by |t|
    of one 3x3 step, 0 < t <= 2 dilates by up to two steps. Randomness comes from `gen` (CPU),
    so a seeded run is reproducible.
    """
    n, device = x.shape[0], x.device
    angle = _uniform(n, -1, 1, gen, device) * math.radians(rotate_deg)
    inv_s = 1.0 / _uniform(n, *scale, gen, device)
    sh = _uniform(n, -shear, shear, gen, device)
    t = _uniform(n, -translate, translate, gen, device, 2)
    cos, sin = torch.cos(angle) * inv_s, torch.sin(angle) * inv_s
    # theta maps output coordinates to input coordinates: (N, 2, 3)
    theta = torch.stack(
        [torch.stack([cos, -sin + sh, t[:, 0]], 1), torch.stack([sin, cos, t[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (N, 28, 28, 2)
    if elastic:
        coarse = _uniform(n, -elastic, elastic, gen, device, 2, 4, 4)
        warp = F.interpolate(coarse, size=x.shape[-2:], mode="bicubic", align_corners=False)
        grid = grid + warp.permute(0, 2, 3, 1)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    k = _uniform(n, *thickness, gen, device, 1, 1, 1)
    dil1 = F.max_pool2d(x, 3, 1, 1)
    dil2 = F.max_pool2d(dil1, 3, 1, 1)
    ero = -F.max_pool2d(-x, 3, 1, 1)
    thicker = torch.where(k > 1, dil1 + (k - 1).clamp(max=1) * (dil2 - dil1), x + k.clamp(0, 1) * (dil1 - x))
    thinner = x + (-k).clamp(0, 1) * (ero - x)
    return torch.where(k >= 0, thicker, thinner).clamp_(0, 1)
