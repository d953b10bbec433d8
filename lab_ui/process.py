"""Process-wide settings, made once when the app starts (app.py calls startup()): importing lab_ui
changes nothing in the process, so a test or a bench that imports it gets the process it set up."""

from __future__ import annotations

import ctypes
import functools

import torch

from mnist_core import settings


def fix_the_mmap_threshold(threshold: int = 4 * 2**20) -> bool:
    """Make glibc return large freed buffers to the system (Linux; a no-op elsewhere).

    glibc raises its mmap threshold (up to 32 MB) each time a large mmapped buffer is freed, so after
    the first large image, the next ones' buffers come from the heap of the session's script thread
    and stay there when freed: about 30 MB kept per session that left, on a 5470 x 5470 PNG
    (bench/session_memory.py). A fixed threshold turns that adjustment off: buffers over 4 MB
    (decoded images) are mmapped and given back on free; training's batches are far smaller.
    An operator's own MALLOC_MMAP_THRESHOLD_ wins."""
    if settings.operator_malloc_threshold():
        return False
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(-3, threshold))  # -3: M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return False


@functools.cache
def startup() -> None:
    """The server's process-wide settings: the allocator's mmap threshold, and torch's thread count (one on
    a 2-core machine: see settings.torch_threads). Made on the first call; every rerun of app.py calls it,
    and the later calls do nothing (two first calls at once would only set the same values twice)."""
    fix_the_mmap_threshold()
    torch.set_num_threads(settings.torch_threads())
