"""Uploaded image files -> uint8 arrays, safely; and small pictures for the Draw page.

`decode` never trusts a file: its size is checked before it is opened, its dimensions are read
from the header before any pixel is decoded (an "image bomb" of 100000x100000 pixels in a few KB
is refused without allocating it), JPEGs are decoded at a reduced scale, and the result is at
most MAX_SIDE on its longer side, so memory stays bounded whatever is uploaded. Every failure is
an ImageError whose message can be shown to the user as it is. Pure: no streamlit.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .preprocess import ink_map, preprocess_steps

MAX_BYTES = 20 * 1024 * 1024  # larger files are refused before they are opened
MAX_PIXELS = 30_000_000  # width x height from the header: a 24-megapixel photo fits
MAX_SIDE = 2048  # decoded images are reduced to this (preprocess shrinks to 1024 anyway)
MIN_SIDE = 8  # smaller than this cannot hold a readable digit
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")  # JPEG includes MPO (many phone cameras' JPEGs)
ORIENTATION = 0x0112  # the EXIF tag, and the transposition that undoes each of its values
T = Image.Transpose
TRANSPOSE = {
    2: T.FLIP_LEFT_RIGHT,
    3: T.ROTATE_180,
    4: T.FLIP_TOP_BOTTOM,
    5: T.TRANSPOSE,
    6: T.ROTATE_270,
    7: T.TRANSVERSE,
    8: T.ROTATE_90,
}
# Pillow's own guard (a warning above this, an error above twice this) for every decode in this
# process; it is only ever lowered here, never raised or disabled.
Image.init()  # register every format plugin now: Image.open(formats=...) only tries registered ones
if Image.MAX_IMAGE_PIXELS is None or Image.MAX_IMAGE_PIXELS > MAX_PIXELS:
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class ImageError(ValueError):
    """An upload that cannot be read as a digit image; str(error) is a message for the user."""


@dataclass(frozen=True)
class Decoded:
    pixels: np.ndarray  # uint8 (H, W) gray, (H, W, 3) RGB or (H, W, 4) RGBA, H and W <= MAX_SIDE
    format: str  # "PNG", "JPEG", ...
    width: int  # the file's own dimensions, before any reduction
    height: int
    notes: tuple[str, ...] = ()  # what was done that the user may want to know


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB"


def _open(data: bytes) -> Image.Image:
    if not data:
        raise ImageError("The file is empty.")
    if len(data) > MAX_BYTES:
        raise ImageError(
            f"The file is {_mb(len(data))}; the limit is {_mb(MAX_BYTES)}. A digit needs only a few "
            "hundred pixels: crop or shrink the photo and upload it again."
        )
    try:  # reads the header only; no pixel is decoded yet
        img = Image.open(io.BytesIO(data), formats=[f for f in FORMATS if f in Image.OPEN])
    except Image.DecompressionBombError as exc:  # Pillow's guard fires first for the most extreme sizes
        raise ImageError(
            f"The image's dimensions are far too large (over {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} "
            f"megapixels); the limit is {MAX_PIXELS / 1e6:.0f} megapixels."
        ) from exc
    except Exception as exc:  # Pillow raises UnidentifiedImageError, but also others on odd headers
        raise ImageError("This is not an image that can be read (expected PNG, JPEG, GIF, BMP, WebP or TIFF).") from exc
    w, h = img.size
    if w * h > MAX_PIXELS:
        raise ImageError(
            f"The image is {w:,} x {h:,} pixels ({w * h / 1e6:,.0f} megapixels); the limit is "
            f"{MAX_PIXELS / 1e6:.0f} megapixels. Crop or shrink it and upload it again."
        )
    if min(w, h) < MIN_SIDE:
        raise ImageError(
            f"The image is only {w} x {h} pixels: too small to hold a digit (at least {MIN_SIDE} x {MIN_SIDE})."
        )
    return img


def to_array(img: Image.Image) -> np.ndarray:
    """A Pillow image in any mode -> uint8 gray, RGB or RGBA (alpha kept: it tells ink from canvas)."""
    mode = img.mode
    if mode.startswith("I") or mode == "F":  # 16-bit PNG ("I;16"), 32-bit int or float gray
        a = np.asarray(img)
        if mode == "F" or a.max(initial=0) > 65535 or a.min(initial=0) < 0:
            lo, hi = float(a.min()), float(a.max())
            return ((a - lo) / (hi - lo or 1.0) * 255).astype(np.uint8)
        return (a.astype(np.uint32) >> 8).astype(np.uint8)  # 16-bit: keep the top byte
    if mode == "1":
        img = img.convert("L")
    elif mode in ("LA", "La", "PA") or (mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
    elif mode not in ("L", "RGB", "RGBA"):  # P, CMYK, YCbCr, LAB, HSV, RGBX, RGBa, ...
        img = img.convert("RGB")
    return np.asarray(img)


def decode(data: bytes) -> Decoded:
    """Bytes of an uploaded file -> Decoded, or ImageError with a message for the user.

    Checks, in order: size in bytes, that it is an image at all (header), its pixel count and
    its smallest side (header), then decodes: the first frame of an animation, turned upright
    by its EXIF orientation (phone photos), reduced so that its longer side is <= MAX_SIDE.
    """
    img = _open(data)
    fmt, (w, h) = img.format or "?", img.size
    notes = []
    frames = getattr(img, "n_frames", 1)
    try:
        if frames > 1:
            img.seek(0)
            notes.append(f"The file is animated ({frames} frames): the first frame is read.")
        if fmt in ("JPEG", "MPO"):
            img.draft(img.mode if img.mode in ("L", "RGB") else None, (MAX_SIDE, MAX_SIDE))  # decode at 1/2..1/8
        orientation = img.getexif().get(ORIENTATION, 1)
        img.load()
        factor = -(-max(img.size) // MAX_SIDE)
        if factor > 1:
            img = img.reduce(factor)
        if orientation in TRANSPOSE:  # a phone photo held sideways is stored sideways, with this tag
            img = img.transpose(TRANSPOSE[orientation])
            notes.append("Turned upright as its EXIF orientation says.")
        pixels = to_array(img)
    except ImageError:
        raise
    except Exception as exc:  # truncated or corrupt data: Pillow raises OSError, SyntaxError, ...
        raise ImageError(f"The {fmt} file is damaged and cannot be decoded ({type(exc).__name__}: {exc}).") from exc
    if max(w, h) > MAX_SIDE:
        notes.append(f"Reduced from {w} x {h} pixels.")
    return Decoded(np.ascontiguousarray(pixels), fmt, w, h, tuple(notes))


FLAT_MESSAGE = "The image is one flat colour: no ink on it (or nothing but ink)."
DOT_MESSAGE = "There is only a small dot or speck: no digit-sized stroke."


def find_digit(image: np.ndarray, min_side: int = 0) -> tuple[dict | None, str | None]:
    """`preprocess_steps(image)` and, when there is no digit in it, why: (steps, None) or (None, reason).

    min_side: ink whose bounding box is smaller than this on its longer side (in the image's
    pixels, for images up to 1024 pixels wide) is a dot, not a digit. The canvas passes about
    1.5 brush widths, so that one click of a broad pen is not read as a digit.
    """
    steps = preprocess_steps(image)
    if steps is not None and steps["crop"].shape[0] >= min_side:
        return steps, None
    return None, FLAT_MESSAGE if ink_map(image) is None else DOT_MESSAGE


def blank_reason(image: np.ndarray, min_side: int = 0) -> str | None:
    """Why there is no digit in this image (a sentence for the user), or None if there is one."""
    return find_digit(image, min_side)[1]


def enlarge(x: np.ndarray, side: int) -> np.ndarray:
    """Float image in [0, 1] -> uint8 gray about `side` pixels wide, pixels kept square and sharp."""
    k = max(1, side // max(x.shape))
    return (np.clip(np.kron(x, np.ones((k, k), np.float32)), 0, 1) * 255).astype(np.uint8)


def heat_overlay(x28: np.ndarray, heat: np.ndarray, side: int = 224) -> np.ndarray:
    """(28, 28) input and (28, 28) heat in [0, 1] -> uint8 RGB: the digit in grey, the heat on top
    in a black-red-yellow scale (hot pixels are the ones whose change moves the score most)."""
    h = np.clip(heat, 0, 1)
    colour = np.stack([np.clip(2 * h, 0, 1), np.clip(2 * h - 1, 0, 1), np.zeros_like(h)], -1)  # (28, 28, 3)
    alpha = np.sqrt(h)[..., None]  # let weak heat show, fading the digit under strong heat
    rgb = (1 - alpha) * 0.55 * np.clip(x28, 0, 1)[..., None] + alpha * colour
    k = max(1, side // 28)
    return (np.repeat(np.repeat(rgb, k, 0), k, 1) * 255).astype(np.uint8)
