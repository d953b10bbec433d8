"""Any image (canvas RGBA, photo, scan) -> a 28x28 MNIST-style array.

MNIST digits were made like this: the ink's bounding box scaled to fit 20x20 with its aspect
ratio kept, anti-aliased, then placed in 28x28 so that the centre of mass lands on pixel (14, 14)
(measured on the training set: mean 14.00, 14.01). `preprocess` does the same to any input, so a
digit drawn small, off-centre or on a big canvas looks to the model like the digits it learned.
A binarised scan whose ink fills its frame from top to bottom (a low-resolution scan stretched to fill
its box, as some digit sets are kept) has lost its digit's proportions: its frame is read as a digit
SCAN_ASPECT as wide as tall instead of the ink's box as it stands.
All functions are pure and vectorised (numpy + one torch resize).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

BOX = 20  # MNIST's digit box
SIZE = 28  # MNIST's image size
CENTRE = 14.0  # where MNIST's centre of mass sits (row and column)
MAX_SIDE = 1024  # larger inputs are block-averaged down first: bounded time and memory
INK = 0.3  # ink level (after contrast stretch) that counts for the bounding box
MIN_CONTRAST = 0.15  # less difference than this between ink and background: blank
DOT = 0.06  # a blob smaller than this fraction of the image side is a stray dot, not a digit
# A stretched scan's frame read this much narrower than tall: chosen on UNIPEN's training writers held out
# of training and on 5,000 MNIST training digits, each made a 16x16 binarised scan stretched to its box
# (bench/scans.py): 0.5 to 0.8 all read them better than the stretched ink as it stands, 0.6 best. None:
# a scan's ink box read as it stands, like any image's.
SCAN_ASPECT: float | None = 0.6

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _as_uint8(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if a.dtype == np.uint16:
        return (a >> 8).astype(np.uint8)
    if np.issubdtype(a.dtype, np.floating):
        a = np.nan_to_num(a.astype(np.float32))
        scale = 255.0 if a.max(initial=0) <= 1.0 else 1.0
        return np.clip(a * scale, 0, 255).astype(np.uint8)
    return np.clip(a, 0, 255).astype(np.uint8)


def _shrink(a: np.ndarray) -> np.ndarray:
    """Block-average an image whose longer side exceeds MAX_SIDE (keeps memory bounded)."""
    k = -(-max(a.shape[:2]) // MAX_SIDE)
    if k <= 1:
        return a
    h, w = (a.shape[0] // k) * k, (a.shape[1] // k) * k
    if h == 0 or w == 0:  # extremely thin: subsample along the long axis only
        return a[::k, ::k]
    a = a[:h, :w]
    return a.reshape(h // k, k, w // k, k, *a.shape[2:]).mean(axis=(1, 3)).astype(np.uint8)


def ink_map(image) -> np.ndarray | None:
    """uint8 gray/RGB/RGBA of any size -> float32 (H, W) in [0, 1], ink bright, background 0.

    Detects the background: a transparent canvas counts as dark (its strokes are the ink),
    otherwise the median of the border decides light-on-dark or dark-on-light. Returns None when
    there is no contrast at all (blank, all ink, 1x1).
    """
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (2, 3, 4)) or a.size == 0:
        raise ValueError(f"expected a gray (H, W), RGB or RGBA image, got shape {a.shape}")
    a = _shrink(_as_uint8(a))
    if a.ndim == 2:
        gray, alpha = a.astype(np.float32) / 255.0, None
    else:
        c = a.shape[2]
        gray = (a[..., :3].astype(np.float32) @ _LUMA if c >= 3 else a[..., 0].astype(np.float32)) / 255.0
        alpha = a[..., -1].astype(np.float32) / 255.0 if c in (2, 4) else None

    if alpha is not None and alpha.min() < 0.98:
        opaque = alpha > 0.5
        # strokes on a transparent canvas (what is drawn is the ink): little drawn, or all drawn in
        # one colour (a fat black digit can cover most of the canvas; composited over black it
        # would vanish)
        if opaque.mean() < 0.5 or np.ptp(np.percentile(gray[opaque], (1, 99))) < MIN_CONTRAST:
            gray = alpha
        else:  # an opaque picture with transparent margins: composite over black
            gray = gray * alpha
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    if background > 0.5:  # dark ink on light paper
        gray, background = 1.0 - gray, 1.0 - background
    peak = float(gray.max())
    if peak - background < MIN_CONTRAST:
        return None
    return np.clip((gray - background) / (peak - background), 0.0, 1.0)


def _resize(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """Anti-aliased resize of a float image (a triangle filter when shrinking)."""
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None, None]
    return F.interpolate(t, size=(h, w), mode="bilinear", antialias=True, align_corners=False)[0, 0].numpy()


def _ink_box(ink: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the ink, or None for blank input or a stray dot."""
    mask = ink > INK
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size == 0:
        return None
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    if max(bottom - top, right - left) < max(2, DOT * max(ink.shape)):
        return None
    return top, bottom, left, right


def reads_as_scan(ink: np.ndarray) -> bool:
    """Whether `preprocess` reads this ink as a binarised scan stretched to its frame (the frame at
    SCAN_ASPECT): black and white only (a canvas, a photo or MNIST's anti-aliased digits never are), a
    square frame (give or take a fifth), ink in its top and bottom rows. Always False with SCAN_ASPECT None."""
    h, w = ink.shape
    if not SCAN_ASPECT or abs(h - w) > 0.2 * max(h, w) or ink[0].max() <= INK or ink[-1].max() <= INK:
        return False  # (the cheap checks first: a canvas drawing stops here)
    return float(np.mean((ink > 0.02) & (ink < 0.98))) < 0.01  # binarised


def _padded_square(a: np.ndarray) -> np.ndarray:
    h, w = a.shape
    side = max(h, w)
    square = np.zeros((side, side), np.float32)  # pad the short side: aspect ratio kept
    y0, x0 = (side - h) // 2, (side - w) // 2
    square[y0 : y0 + h, x0 : x0 + w] = a
    return square


def preprocess_steps(image) -> dict | None:
    """The intermediate images: ink (H, W), crop (the ink's box, made square; a stretched scan's whole
    frame), scaled (20x20), centred (28x28, the model's input). None for a blank image or a stray dot."""
    ink = ink_map(image)
    if ink is None:
        return None
    box = _ink_box(ink)
    if box is None:
        return None
    if reads_as_scan(ink):  # the frame, narrowed to a digit's proportions
        square = _padded_square(ink)
        scaled = _padded_square(np.clip(_resize(ink, BOX, round(BOX * SCAN_ASPECT)), 0.0, 1.0))
    else:
        top, bottom, left, right = box
        square = _padded_square(ink[top:bottom, left:right])
        scaled = np.clip(_resize(square, BOX, BOX), 0.0, 1.0)

    # Place the 20x20 box so that the centre of mass lands on (14, 14), staying inside 28x28.
    mass = scaled.sum()
    cy = (scaled.sum(1) @ np.arange(BOX)) / mass
    cx = (scaled.sum(0) @ np.arange(BOX)) / mass
    max_off = SIZE - BOX
    oy = int(np.clip(round(CENTRE - cy), 0, max_off))
    ox = int(np.clip(round(CENTRE - cx), 0, max_off))
    centred = np.zeros((SIZE, SIZE), np.float32)
    centred[oy : oy + BOX, ox : ox + BOX] = scaled
    return {"ink": ink, "crop": square, "scaled": scaled, "centred": centred}


def preprocess(image) -> np.ndarray | None:
    """Any uint8 image -> (28, 28) float32 in [0, 1], MNIST-style; None if blank."""
    steps = preprocess_steps(image)
    return None if steps is None else steps["centred"]


def squash(image) -> np.ndarray | None:
    """The naive way many demos do it: the whole canvas resized to 28x28 (for teaching)."""
    ink = ink_map(image)
    if ink is None or _ink_box(ink) is None:
        return None
    return np.clip(_resize(ink, SIZE, SIZE), 0.0, 1.0)
