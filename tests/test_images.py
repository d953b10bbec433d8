"""mnist_core.images: uploaded files decoded safely (every bad file is an ImageError with a message
for the user, never a traceback; memory bounded), and the Draw page's small pictures."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from conftest import digit_image
from PIL import Image, ImageFile

from mnist_core import images
from mnist_core.preprocess import preprocess


def encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny valid 8x8 PNG whose header is rewritten to claim width x height (an image bomb)."""
    small = encode(Image.new("L", (8, 8)))
    body = struct.pack(">II", width, height) + small[24:29]  # keep bit depth, colour type, ...
    ihdr = struct.pack(">I", 13) + b"IHDR" + body + struct.pack(">I", zlib.crc32(b"IHDR" + body))
    return small[:8] + ihdr + small[33:]


def ink_box(a: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the pixels that differ from the corner pixel."""
    gray = a if a.ndim == 2 else a[..., :3].mean(-1)
    rows, cols = (
        np.flatnonzero((np.abs(gray - gray[0, 0]) > 64).any(1)),
        np.flatnonzero((np.abs(gray - gray[0, 0]) > 64).any(0)),
    )
    return rows[0], rows[-1], cols[0], cols[-1]


@pytest.fixture
def no_pixel_decoding(monkeypatch):
    """Decoding any pixel fails the test: a refusal must come from the header alone."""

    def refuse(self, *a, **k):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


# --- each kind of bad upload gets a clear message -----------------------------------------------
@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "empty"),
        (b"hello, this is a text file\n" * 20, "not an image"),
        (b"%PDF-1.7\n" + bytes(range(256)) * 8, "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "not an image"),  # a PNG signature and nothing valid after it
    ],
)
def test_files_that_are_not_images_are_refused_with_a_message(data, words):
    with pytest.raises(images.ImageError, match=words):
        images.decode(data)


def test_an_image_bomb_is_refused_from_its_header_without_decoding(no_pixel_decoding):
    bomb = png_claiming(100_000, 100_000)  # 10 gigapixels in 69 bytes
    assert len(bomb) < 100
    with pytest.raises(images.ImageError, match="megapixels"):
        images.decode(bomb)


def test_dimensions_over_the_limit_but_under_pillows_own_guard_are_refused_with_the_size(no_pixel_decoding):
    side = int((images.MAX_PIXELS * 1.5) ** 0.5)  # over MAX_PIXELS, under Pillow's error threshold
    with pytest.warns(Image.DecompressionBombWarning), pytest.raises(images.ImageError) as err:
        images.decode(png_claiming(side, side))
    assert f"{side:,} x {side:,}" in str(err.value) and f"{images.MAX_PIXELS / 1e6:.0f} megapixels" in str(err.value)


def test_pillows_own_limit_is_never_above_ours():
    assert Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS <= images.MAX_PIXELS


def test_a_30_mb_image_is_refused_by_its_size_before_it_is_opened(monkeypatch):
    noise = np.random.default_rng(0).integers(0, 256, (3200, 3200, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noise), compress_level=0)  # a real PNG of about 30 MB
    assert len(data) > 30_000_000 > images.MAX_BYTES
    monkeypatch.setattr(Image, "open", lambda *a, **k: pytest.fail("a file over the limit was opened"))
    with pytest.raises(images.ImageError, match=f"limit is {images.MAX_BYTES / 2**20:.1f} MB"):
        images.decode(data)


@pytest.mark.parametrize("size", [(1, 1), (1, 500), (500, 7)])
def test_images_too_small_to_hold_a_digit_are_refused(size):
    with pytest.raises(images.ImageError, match="too small"):
        images.decode(encode(Image.new("L", size, 255)))


def test_a_truncated_file_is_reported_as_damaged():
    data = encode(digit_image(7, mode="RGB", ink=(0, 0, 0), paper=(255, 255, 255)), compress_level=9)
    with pytest.raises(images.ImageError, match="damaged"):
        images.decode(data[: len(data) // 2])


# --- the unusual images that are images get read ------------------------------------------------
def test_an_animated_gif_reads_its_first_frame_and_says_so():
    frames = [digit_image(d, mode="L", ink=255, paper=0) for d in (7, 1, 0)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    out = images.decode(data)
    assert out.format == "GIF" and (out.width, out.height) == (280, 280)
    assert any("3 frames" in n and "first frame" in n for n in out.notes)
    gray = out.pixels if out.pixels.ndim == 2 else out.pixels[..., 0]
    assert np.abs(gray.astype(int) - np.asarray(frames[0], int)).max() <= 1  # frame 0, not 1 or 2


def test_a_16_bit_png_is_scaled_to_8_bits_not_clipped():
    a = np.zeros((64, 64), np.uint16)
    a[10:50, 28:36] = 65535
    a[0, 0] = 32768
    img = Image.fromarray(a)
    assert img.mode.startswith("I")
    out = images.decode(encode(img)).pixels
    assert out.dtype == np.uint8 and out.shape == (64, 64)
    assert out[20, 30] == 255 and out[0, 0] == 128 and out[60, 60] == 0
    assert preprocess(out) is not None


def test_a_cmyk_jpeg_is_converted_and_its_digit_found_where_it_was_drawn():
    rgb = digit_image(7, mode="RGB", ink=(0, 0, 0), paper=(255, 255, 255))
    data = encode(rgb.convert("CMYK"), "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    out = images.decode(data).pixels
    assert out.dtype == np.uint8 and out.shape == (280, 280, 3)
    expected = ink_box(np.asarray(rgb))
    assert np.abs(np.subtract(ink_box(out), expected)).max() <= 3
    assert preprocess(out) is not None


def test_a_transparent_png_keeps_its_alpha_so_strokes_count_as_ink():
    img = digit_image(3, ink=(0, 0, 0, 255), paper=(0, 0, 0, 0))  # black strokes on a transparent canvas
    out = images.decode(encode(img)).pixels
    assert out.shape == (280, 280, 4)
    assert np.array_equal(out, np.asarray(img))


def test_a_phone_photo_is_turned_upright_by_its_exif_orientation():
    upright = Image.new("RGB", (300, 200), "white")
    upright.paste((0, 0, 0), (20, 90, 280, 110))  # a horizontal bar
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # as a camera held sideways stores it
    exif = Image.Exif()
    exif[images.ORIENTATION] = 6  # "rotate 90 degrees clockwise to display"
    out = images.decode(encode(stored, "JPEG", exif=exif.tobytes()))
    assert out.pixels.shape[:2] == (200, 300)
    assert any("EXIF" in n for n in out.notes)
    top, bottom, left, right = ink_box(out.pixels)
    assert right - left > 200 and bottom - top < 40  # horizontal again


def test_a_large_photo_is_reduced_so_memory_stays_bounded():
    big = Image.new("RGB", (6000, 4000), (200, 200, 200))
    big.paste((20, 20, 20), (2800, 1000, 3200, 3000))
    out = images.decode(encode(big, "JPEG", quality=80))
    assert (out.width, out.height) == (6000, 4000)
    assert max(out.pixels.shape[:2]) <= images.MAX_SIDE
    assert out.pixels.shape[1] > out.pixels.shape[0]  # aspect ratio kept
    assert any("Reduced from 6000 x 4000" in n for n in out.notes)


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "I", "F", "YCbCr", "HSV", "LAB"])
def test_every_pillow_mode_becomes_uint8_gray_rgb_or_rgba(mode):
    img = Image.new(mode, (16, 16))
    a = images.to_array(img)
    assert a.dtype == np.uint8 and a.shape[:2] == (16, 16)
    assert a.ndim == 2 or a.shape[2] in (3, 4)


# --- why there is no digit ----------------------------------------------------------------------
def test_blank_reason_tells_a_full_canvas_a_dot_and_a_digit_apart():
    full = np.full((280, 280, 4), 255, np.uint8)  # fully inked: white everywhere, opaque
    empty = np.zeros((280, 280, 4), np.uint8)
    empty[..., 3] = 255
    dot = empty.copy()
    dot[138:143, 138:143, :3] = 255  # one click of a thin pen
    assert "flat colour" in images.blank_reason(full)
    assert "flat colour" in images.blank_reason(empty)
    assert "dot" in images.blank_reason(dot)
    assert images.blank_reason(np.asarray(digit_image(5))) is None


def test_find_digit_treats_one_click_of_a_broad_pen_as_a_dot_when_told_the_pen_size():
    click = np.zeros((280, 280, 4), np.uint8)
    click[..., 3] = 255
    yy, xx = np.mgrid[:280, :280]
    click[(yy - 140) ** 2 + (xx - 140) ** 2 <= 11**2, :3] = 255  # one click of a 22-pixel brush
    steps, reason = images.find_digit(click, min_side=33)
    assert steps is None and "dot" in reason
    seven = np.asarray(digit_image(7, width=22))
    steps, reason = images.find_digit(seven, min_side=33)
    assert reason is None and steps["centred"].shape == (28, 28)
    assert np.array_equal(steps["centred"], preprocess(seven))


# --- pictures for the page ----------------------------------------------------------------------
def test_enlarge_keeps_pixels_square_and_sharp():
    x = np.zeros((28, 28), np.float32)
    x[3, 5] = 1.0
    big = images.enlarge(x, 196)
    assert big.shape == (196, 196) and big.dtype == np.uint8
    assert (big[21:28, 35:42] == 255).all() and big.sum() == 255 * 49


def test_heat_overlay_puts_the_heat_where_it_is():
    x = np.zeros((28, 28), np.float32)
    x[10:18, 13:15] = 1.0  # the digit
    heat = np.zeros((28, 28), np.float32)
    heat[2, 2] = 1.0
    out = images.heat_overlay(x, heat, side=224)
    assert out.shape == (224, 224, 3) and out.dtype == np.uint8
    assert tuple(out[2 * 8 + 4, 2 * 8 + 4]) == (255, 255, 0)  # full heat: yellow
    digit = out[14 * 8 + 4, 13 * 8 + 4]
    assert digit[0] == digit[1] == digit[2] > 100  # no heat: the digit in grey
    assert out[27 * 8 + 4, 27 * 8 + 4].max() == 0  # neither: black
