"""Process-wide settings, made once when the app starts (app.py calls startup()): importing lab_ui
changes nothing in the process, so a test or a bench that imports it gets the process it set up."""

from __future__ import annotations

import atexit
import ctypes
import functools
import gc
import logging
import os
import sys
import threading
import time

import torch

from lab_ui.runs import close_job_runners
from mnist_core import settings

log = logging.getLogger(__name__)
# The threads that may be inside PyTorch when the server stops: a page's script run, a training run.
BUSY_THREADS = ("ScriptRunner.", "mnist-lab-")


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
    if "streamlit.web.bootstrap" in sys.modules:  # a server (`streamlit run`), not a test's AppTest
        atexit.register(on_exit)
    # Streamlit runs a full garbage collection after every script run; over the server's ~400,000 objects at
    # start-up (torch, the models, the pages' modules) it took 260-330 ms on a 2-core machine, holding the
    # interpreter while the page waited (an Undo's reading, the tail of every stroke's). Objects that live
    # as long as the process are moved out of the collector's way; later ones are collected as before.
    gc.freeze()


def on_exit(wait: float = 3.0) -> None:
    """The server's last step (Ctrl+C, SIGTERM): stop the training runs and write their status files, give
    the pages' script runs a moment to end, then exit. A thread still inside PyTorch's C++ code when the
    interpreter tears down aborts the process ("terminate called without an active exception", exit code
    -6): if one is still busy after `wait` seconds, the process ends at once, with its logs flushed."""
    deadline = time.monotonic() + wait
    close_job_runners(wait)
    busy = [t for t in threading.enumerate() if t.name.startswith(BUSY_THREADS) and t is not threading.current_thread()]
    for thread in busy:
        thread.join(max(deadline - time.monotonic(), 0))
    still = [t.name for t in busy if t.is_alive()]
    if still:
        log.warning("exiting with %d thread(s) still busy: %s", len(still), ", ".join(still))
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
