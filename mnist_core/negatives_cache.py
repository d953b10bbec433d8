"""The non-digits a run trains its "not a digit" output on: mnist_core.negatives' train kinds, drawn once
per set of arguments (about 7 ms a drawing on the 280 px canvas, 3 minutes for the set) and cached on
disk beside the pen renders, keyed like pen.training_set's cache (the UNIPEN file's content, the
version, the arguments), and in memory.

The kinds are interleaved (drawing i of every kind, then drawing i + 1...), so that any run of
consecutive drawings, which is what an epoch takes (trainset), holds every kind evenly."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache

import numpy as np

from . import negatives, pen, settings
from .files import atomic_path

CACHE_VERSION = 3  # bump when the training drawings change (negatives, negatives_glyphs, negatives_shapes)
PER_KIND = 3000  # drawings of each train kind in a run's set
SEED = 0


def training_set(root=None, per_kind: int | None = None, seed: int = SEED) -> np.ndarray:
    """(len(TRAIN_KINDS) * per_kind, 28, 28) uint8 non-digits as the app's `preprocess` gives them,
    split="train" (their digits from UNIPEN's training writers), kinds interleaved; per_kind: PER_KIND."""
    per_kind = PER_KIND if per_kind is None else per_kind
    path = pen.find(root)
    content = hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()  # 3 MB: milliseconds
    raw = json.dumps([content, CACHE_VERSION, negatives.TRAIN_KINDS, per_kind, seed])
    key = hashlib.blake2b(raw.encode(), digest_size=8).hexdigest()
    return _cached(key, None if root is None else str(root), per_kind, seed)


@lru_cache(maxsize=2)
def _cached(key: str, root: str | None, per_kind: int, seed: int) -> np.ndarray:
    cache = settings.cache_dir("pen") / f"negatives-{key}.npz"
    if cache.is_file():
        try:
            with np.load(cache) as z:
                return z["images"]
        except (OSError, ValueError, KeyError):
            pass  # a broken cache is drawn again
    by_kind = [negatives.make(kind, per_kind, seed, "train", root) for kind in negatives.TRAIN_KINDS]
    images = np.stack([x for row in zip(*by_kind, strict=True) for x in row])
    images = (images * 255).round().astype(np.uint8)
    try:
        with atomic_path(cache) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, images=images)
    except OSError:
        pass  # no writable cache: drawn again next process
    return images
