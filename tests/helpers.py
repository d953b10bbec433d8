"""What several test files share: a deadline-bounded wait, the openers of the app's pages, and a
bench's main run in this process.

Import it as `from helpers import ...` (pytest puts tests/ on the path, as for conftest)."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def wait_until(cond: Callable[[], object], timeout: float = 120.0, what: str = "the condition",
               interval: float = 0.05) -> object:
    """Call `cond` until it returns something true, and return that; AssertionError naming `what` once
    `timeout` seconds have passed. The deadline is the test's budget, not a guess at the machine's speed:
    a busy machine makes it slower, never makes it fail sooner."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def run_bench(script: str, *args: str) -> tuple[int, str, str]:
    """bench/`script`'s main(argv) run in this process: (its exit code, what it printed, what it printed to
    stderr). A test that checks a bench's output needs no second interpreter importing torch, nor a
    subprocess timeout that a busy machine can miss. Torch's thread count is put back afterwards."""
    path = ROOT / "bench" / script
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out, err, threads = io.StringIO(), io.StringIO(), torch.get_num_threads()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = module.main(list(args))
    except SystemExit as exc:  # argparse's own exit
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        torch.set_num_threads(threads)
    return code, out.getvalue(), err.getvalue()
