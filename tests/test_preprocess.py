"""mnist_core.preprocess: any image -> a 28x28 MNIST-style input (issue 3)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from conftest import synthetic_digits

from mnist_core import data
from mnist_core.preprocess import preprocess, preprocess_steps, squash

pre = importlib.import_module("mnist_core.preprocess")  # the module: the package exports its function


def centre_of_mass(x: np.ndarray) -> tuple[float, float]:
    idx = np.arange(x.shape[0])
    return float(x.sum(1) @ idx / x.sum()), float(x.sum(0) @ idx / x.sum())


def mnist_like(n: int = 20) -> list[np.ndarray]:
    """Glyphs made MNIST-style by preprocess itself, as uint8: a fixed point to test against."""
    images, _ = synthetic_digits(n, seed=3)
    out = [preprocess(img) for img in images]
    return [(x * 255).round().astype(np.uint8) for x in out if x is not None]


def error(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute pixel difference on the [0, 1] scale, up to a one-pixel shift: the centre of
    mass is placed on whole pixels (as MNIST's was), so a centre near x.5 may round either way."""
    a, b = a.astype(np.float32), b.astype(np.float32)
    return min(float(np.abs(np.roll(a, (dy, dx), axis=(0, 1)) - b).mean()) for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def test_output_contract():
    x = preprocess(mnist_like(1)[0])
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.9


def test_real_mnist_digits_pass_through_almost_unchanged(real_data_dir):
    test = data.load("mnist", train=False, root=real_data_dir)
    images = test.images[:300].numpy()
    errs = [np.abs(preprocess(img) - img / 255.0).mean() for img in images]  # no shift allowed
    # MNIST was made this way: only resampling differences remain (most pixels identical).
    assert np.median(errs) < 0.03, np.median(errs)
    assert np.mean([centre_of_mass(preprocess(img)) for img in images], axis=0) == pytest.approx((14, 14), abs=0.3)


@pytest.mark.parametrize("digit", range(5))
def test_a_centred_mnist_style_digit_is_a_fixed_point(digit):
    img = mnist_like(5)[digit]
    assert error(preprocess(img), img / 255.0) < 0.01


def variants(img: np.ndarray) -> dict[str, np.ndarray]:
    """The same digit as a user's canvas or a scan might hold it."""
    big = np.kron(img, np.ones((8, 8), np.uint8))  # 224x224: scaled up 8x
    canvas = np.zeros((400, 300), np.uint8)
    canvas[150:374, 20:244] = big  # and shifted to a corner of a larger canvas
    rgba_transparent = np.zeros((*canvas.shape, 4), np.uint8)
    rgba_transparent[..., :3] = 255  # white strokes ...
    rgba_transparent[..., 3] = canvas  # ... whose alpha is the ink; the rest transparent
    black_on_transparent = rgba_transparent.copy()
    black_on_transparent[..., :3] = 0
    return {
        "shifted": np.pad(img, ((10, 2), (0, 12))),  # moved down and left in a 40x40 frame
        "scaled up 8x": big,
        "scaled and shifted on a big canvas": canvas,
        "inverted (dark on light)": 255 - canvas,
        "RGB": np.repeat(canvas[..., None], 3, axis=2),
        "inverted RGB": np.repeat(255 - canvas[..., None], 3, axis=2),
        "white on a transparent canvas": rgba_transparent,
        "black on a transparent canvas": black_on_transparent,
        "opaque black canvas (RGBA)": np.dstack(
            [np.repeat(canvas[..., None], 3, axis=2), np.full(canvas.shape, 255, np.uint8)]
        ),
        "float in [0, 1]": canvas.astype(np.float32) / 255.0,
        "16-bit": canvas.astype(np.uint16) * 257,
    }


@pytest.mark.parametrize("name", list(variants(np.zeros((28, 28), np.uint8))))
def test_the_same_digit_drawn_differently_maps_back(name):
    for img in mnist_like(4):
        out = preprocess(variants(img)[name])
        assert out is not None, name
        # Upscaling and shrinking again blurs edges a little: a small error, far below a
        # different digit's (mean error between two different digits here is about 0.1).
        assert error(out, img / 255.0) < 0.04, (name, error(out, img / 255.0))


def test_a_fat_digit_in_one_colour_on_a_transparent_canvas_is_read_whatever_its_colour():
    """Ink covering most of a transparent canvas is still the drawing, black ink as well as white
    (it once composited over black and read as blank); a picture of two colours with transparent
    margins is still composited over black."""
    img = mnist_like(1)[0]
    ink = np.kron(np.maximum(img, (img > 60) * 255).astype(np.uint8), np.ones((10, 10), np.uint8))
    fat = np.zeros((280, 280), np.uint8)
    fat[:] = ink
    for _ in range(6):  # thicken until the strokes cover over half the canvas
        fat = np.maximum.reduce([fat, np.roll(fat, 6, 0), np.roll(fat, -6, 0), np.roll(fat, 6, 1), np.roll(fat, -6, 1)])
    assert (fat > 127).mean() > 0.5
    for colour in (0, 255):
        rgba = np.zeros((280, 280, 4), np.uint8)
        rgba[..., :3], rgba[..., 3] = colour, fat
        out = preprocess(rgba)
        assert out is not None, colour
        assert error(out, preprocess(fat)) < 0.01, colour
    photo = np.zeros((280, 280, 4), np.uint8)  # white paper, black digit, transparent corners
    photo[..., :3] = 255 - ink[..., None]
    photo[..., 3] = 255
    photo[:20, :20, 3] = photo[-20:, -20:, 3] = 0
    over_black = (photo[..., :3] * (photo[..., 3:] / 255)).astype(np.uint8)
    assert np.array_equal(preprocess(photo), preprocess(over_black))


def test_different_digits_are_far_apart():
    """The yardstick for the tolerance above: unlike digits differ by much more than 0.04."""
    a, b = mnist_like(2)
    assert error(a, b) > 0.06


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((280, 280), np.uint8),
        np.full((280, 280), 255, np.uint8),
        np.zeros((280, 280, 4), np.uint8),  # an untouched transparent canvas
        np.full((100, 100, 3), 200, np.uint8),
    ],
    ids=["black", "white", "transparent", "gray"],
)
def test_blank_input_gives_none(image):
    assert preprocess(image) is None
    assert preprocess_steps(image) is None
    assert squash(image) is None


def test_a_single_stray_dot_gives_none():
    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[100:104, 200:204] = 255
    assert preprocess(canvas) is None
    one_pixel = np.zeros((28, 28), np.uint8)
    one_pixel[5, 5] = 255
    assert preprocess(one_pixel) is None


def test_a_short_stroke_is_kept_as_a_digit():
    """A "1" drawn as a short vertical line is thin but tall: a digit, not a stray dot."""
    canvas = np.zeros((280, 280), np.uint8)
    canvas[100:160, 138:142] = 255
    x = preprocess(canvas)
    assert x is not None and x.sum(0).argmax() in range(12, 17)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((1, 1), np.uint8),
        np.full((1, 1, 3), 255, np.uint8),
        np.random.default_rng(0).integers(0, 256, (5000, 10), dtype=np.uint8),
        np.random.default_rng(1).integers(0, 256, (10, 5000, 3), dtype=np.uint8),
        np.full((50, 50), 255, np.uint8),
        np.full((50, 50, 4), 255, np.uint8),
        np.random.default_rng(2).integers(0, 256, (3000, 3000), dtype=np.uint8),
        np.eye(200, dtype=bool),
        np.zeros((28, 28, 1), np.uint8),
        np.full((30, 30, 2), 128, np.uint8),
        np.linspace(0, 255, 64 * 64).reshape(64, 64).astype(np.uint8),
    ],
    ids=[
        "1x1",
        "1x1 RGB",
        "5000x10",
        "10x5000 RGB",
        "all ink",
        "all ink RGBA",
        "3000x3000 noise",
        "bool",
        "HxWx1",
        "gray+alpha",
        "gradient",
    ],
)
def test_odd_shapes_give_a_result_or_none_without_exception(image):
    for fn in (preprocess, squash):
        out = fn(image)
        assert out is None or (out.shape == (28, 28) and np.isfinite(out).all() and 0 <= out.min() <= out.max() <= 1)


@pytest.mark.parametrize("shape", [(10,), (4, 4, 5), (0, 0), (2, 2, 2, 2)])
def test_shapes_that_are_not_images_raise_a_clear_value_error(shape):
    with pytest.raises(ValueError, match="image"):
        preprocess(np.zeros(shape, np.uint8))


def test_steps_show_crop_scale_and_centre():
    img = mnist_like(1)[0]
    steps = preprocess_steps(np.kron(img, np.ones((5, 5), np.uint8)))
    assert set(steps) == {"ink", "crop", "scaled", "centred"}
    assert steps["crop"].shape[0] == steps["crop"].shape[1]  # made square: aspect kept
    assert steps["scaled"].shape == (20, 20)
    assert centre_of_mass(steps["centred"]) == pytest.approx((14, 14), abs=0.6)


def test_aspect_ratio_is_kept():
    """A tall thin bar stays tall and thin (20 px high, not stretched to 20x20)."""
    canvas = np.zeros((280, 280), np.uint8)
    canvas[40:240, 130:150] = 255
    x = preprocess(canvas)
    rows, cols = np.flatnonzero(x.max(1) > 0.5), np.flatnonzero(x.max(0) > 0.5)
    assert len(rows) == 20 and len(cols) <= 3


def test_squash_is_the_naive_whole_canvas_resize():
    canvas = np.zeros((280, 280), np.uint8)
    canvas[0:70, 0:70] = 255  # a blob in the top-left corner stays there when squashed
    naive, good = squash(canvas), preprocess(canvas)
    assert centre_of_mass(naive)[0] < 5 and centre_of_mass(good) == pytest.approx((14, 14), abs=0.6)


def stretched_scan() -> np.ndarray:
    """A 16x16 binarised scan of a 0 stretched to fill its frame: dark ink on white, ink in every edge row."""
    yy, xx = np.mgrid[:16, :16]
    r = np.hypot((xx - 7.5) / 8, (yy - 7.5) / 8)
    return np.where((r > 0.6) & (r <= 1.0), 0, 255).astype(np.uint8)  # a ring touching the frame's sides


def ink_width(x: np.ndarray) -> int:
    cols = np.flatnonzero((x > 0.3).any(0))
    return int(cols[-1] - cols[0] + 1)


def test_a_stretched_scan_is_read_at_a_digits_proportions():
    steps = preprocess_steps(stretched_scan())
    assert steps["crop"].shape == (16, 16)  # the whole frame
    assert abs(ink_width(steps["centred"]) - round(20 * pre.SCAN_ASPECT)) <= 1  # 12 wide, not 20
    assert ink_width(preprocess(np.pad(stretched_scan(), 1, constant_values=255))) >= 19  # a margin: as it stands


def test_the_scan_rule_leaves_other_images_as_they_were(monkeypatch):
    grey = stretched_scan().astype(np.float32)
    grey[5:11, 5:11] = 128  # one shade of grey: not a binarised scan
    wide = np.full((16, 40), 255, np.uint8)
    wide[:, 10:30] = 0  # ink in the top and bottom rows of a frame far from square
    wide[4:12, 14:26] = 255
    bar = np.full((16, 16), 255, np.uint8)
    bar[:, 7:9] = 0  # a thin upright stroke through a square frame: narrowed, never widened
    for image in (grey.astype(np.uint8), wide, bar):
        with_rule = preprocess(image)
        monkeypatch.setattr(pre, "SCAN_ASPECT", None)
        as_it_stands = preprocess(image)
        monkeypatch.undo()
        if image is bar:
            assert ink_width(with_rule) <= ink_width(as_it_stands)
        else:
            assert np.array_equal(with_rule, as_it_stands)
