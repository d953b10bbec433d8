"""The Draw page's store: one image read once, every result kept for its reruns.

What one session may hold for its images: the last MEMO_IMAGES of them and at most MEMO_BYTES of
arrays. The store is a session-scoped resource, so Streamlit drops it when the session's browser
disconnects (session_state would outlive it by minutes, kept for a reconnect), and nothing in it
is the full-size image: read_image keeps reduced copies (KEPT_SIDE) of the large steps.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import streamlit as st
from PIL import Image

from mnist_core import images
from mnist_core.preprocess import reads_as_scan

MEMO_IMAGES = 4
MEMO_BYTES = 8 * 2**20
KEPT_SIDE = 256  # the page shows these steps at 112 pixels; the squash makes the image 28 x 28


class ImageMemos:
    """One session's results per image, oldest first; bounded by count and by array bytes."""

    def __init__(self, keep: int = MEMO_IMAGES, budget: int = MEMO_BYTES):
        self.keep, self.budget = keep, budget
        self.memos: OrderedDict[str, dict] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str) -> dict:
        with self.lock:
            if key in self.memos:
                self.memos.move_to_end(key)
            else:
                self.memos[key] = {}
            while len(self.memos) > self.keep or (len(self.memos) > 1 and self.nbytes() > self.budget):
                self.memos.popitem(last=False)
            return self.memos[key]

    def nbytes(self) -> int:
        return sum(_nbytes(m) for m in self.memos.values())


def _nbytes(x, depth: int = 0) -> int:
    if isinstance(x, np.ndarray):
        return x.nbytes
    if depth < 3 and isinstance(x, dict):
        return sum(_nbytes(v, depth + 1) for v in x.values())
    if depth < 3 and isinstance(x, (list, tuple)):
        return sum(_nbytes(v, depth + 1) for v in x)
    return 0


@st.cache_resource(scope="session", show_spinner=False)
def session_memos() -> ImageMemos:
    """This session's image store (released by Streamlit when the session disconnects)."""
    return ImageMemos()


def image_memo(key: str, keep: int = MEMO_IMAGES) -> dict:
    """This session's store of results for one image, `key` naming its content (a hash of its bytes,
    or an upload's file id): a rerun for the same image (another widget changed) reuses what the
    last run computed instead of computing it again. Only the last `keep` images are kept, and at
    most MEMO_BYTES of arrays (the newest image always)."""
    memos = session_memos()
    memos.keep = keep
    return memos.get(key)


def _reduced(x: np.ndarray, side: int = KEPT_SIDE) -> np.ndarray:
    """An array image reduced (box filter, by an integer factor) to at most `side` on its longer side."""
    k = -(-max(x.shape[:2]) // side)
    if k <= 1:
        return x
    if x.dtype == np.uint8:
        return np.asarray(Image.fromarray(x).reduce(k))
    return np.asarray(Image.fromarray(x.astype(np.float32), mode="F").reduce(k))


def once(memo: dict, key, compute):
    """memo[key], computed by compute() the first time it is asked for."""
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def read_image(memo: dict, data: bytes, min_side: int = 0) -> dict:
    """Decode an image and find its digit (once per image): {"error": message} for a file that is no
    usable image, else {"pixels", "notes", "steps", "blank", "scan"} where steps is None when there is no
    digit, "blank" says why and "scan" whether it was read as a stretched scan (preprocess.reads_as_scan).
    min_side: see mnist_core.images.find_digit."""

    def compute() -> dict:
        try:
            decoded = images.decode(data)
        except images.ImageError as exc:
            return {"error": str(exc)}
        steps, blank = images.find_digit(decoded.pixels, min_side)
        scan = steps is not None and reads_as_scan(steps["ink"])  # a stretched scan, read at a digit's proportions
        if steps is not None:  # the page shows the large steps at about 112 pixels: keep them reduced
            steps = {k: (_reduced(v) if k in ("ink", "crop") else v) for k, v in steps.items()}
        # the image itself is kept only reduced (for the naive squash, which makes it 28 x 28 anyway)
        pixels = _reduced(decoded.pixels)
        return {"pixels": pixels, "notes": decoded.notes, "steps": steps, "blank": blank, "scan": scan}

    return once(memo, ("read", min_side), compute)
