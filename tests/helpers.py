"""What several test files share: a deadline-bounded wait, and the openers of the app's pages.

Import it as `from helpers import ...` (pytest puts tests/ on the path, as for conftest)."""

from __future__ import annotations

import time
from collections.abc import Callable


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
