"""What several test files share: a deadline-bounded wait, the openers of the app's pages (AppTest), and
for the real server, its health wait and the Draw page opened in a browser; and a bench's main run in this
process.

Import it as `from helpers import ...` (pytest puts tests/ on the path, as for conftest); the benches that
drive the real server import it the same way."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import torch
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
# the app's root element once a script run has ended (browser tests, bench/draw_latency.py)
APP_IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def wait_until(
    cond: Callable[[], object], timeout: float = 120.0, what: str = "the condition", interval: float = 0.05
) -> object:
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


# --- the app in this process (streamlit.testing.v1.AppTest) --------------------------------------------
def unmarked(text: str) -> str:
    """A message as a visitor reads it: without lab_ui.plain's Markdown escapes and word joiners."""
    return re.sub(r"\\(.)", r"\1", str(text)).replace("\u2060", "")


def open_app(timeout: float = 120):
    """The app as a visitor opens it (app.py: its navigation, then the home page), run once."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_page(path: str, timeout: float = 120, state: dict | None = None):
    """The page of this file ("app_pages/draw.py") as a visitor reaches it: the app first, then a switch to
    the page, with `state` put in its session state before the page runs (an expander opened, say)."""
    at = open_app(timeout)
    if path == "app.py":
        return at
    at.switch_page(path)
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def rerun_until(at, cond: Callable[[object], object], timeout: float = 90.0, what: str = "the page") -> object:
    """Rerun the page (as its polling fragment would) until cond(at) holds; no exception on the way."""

    def rerun() -> object:
        at.run()
        assert not at.exception, at.exception
        return cond(at)

    return wait_until(rerun, timeout, what, interval=0.25)


# --- the real server (streamlit run) and a browser -----------------------------------------------------
def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60.0, log: Path | None = None) -> None:
    """Wait until the server at `url` answers /_stcore/health; RuntimeError with its log's end if it exits first."""

    def healthy() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early: {log.read_text()[-2000:] if log else ''}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    wait_until(healthy, timeout, f"{url} to answer /_stcore/health", interval=0.3)


def open_draw(page, url: str, timeout: float = 90.0):
    """Open the Draw page (URL path /Draw) of the server at `url` in a Playwright page: done when its canvas is
    there and the script run has ended. Returns the canvas's event layer, the one to draw on."""
    return open_canvas(page, f"{url}/Draw", timeout)


def open_canvas(page, address: str, timeout: float = 90.0):
    """Open the page at `address` and wait for its drawing canvas (the Draw page's, or the bare canvas page's
    of bench/draw_latency.py) and the end of the script run: the canvas's event layer (in a shadow root)."""
    page.goto(address)
    canvas = page.locator("canvas.upper-canvas").first
    canvas.wait_for(timeout=timeout * 1000)
    page.wait_for_selector(APP_IDLE, timeout=timeout * 1000)
    return canvas


def prediction(page):
    """The Draw page's Prediction metric (the contract in DESIGN.md), as a Playwright locator."""
    return page.get_by_test_id("stMetric").filter(
        has=page.get_by_test_id("stMetricLabel").get_by_text("Prediction", exact=True)
    )


# --- a bench in this process ------------------------------------------------------------------------------
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
