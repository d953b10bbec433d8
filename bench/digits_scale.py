"""Digits page cost against a collection's size: the page for a collection of --small drawings and one of
--large (20,000 by default, as a store from before the cap could hold), same run.

    python bench/digits_scale.py [--small 20] [--large 20000] [--repeats 3] [--no-browser]

Each collection is written into a fresh runs folder (its drawings inserted in one transaction, as an old
store or an import might hold them). The Digits page is then opened as a visitor: its script alone
(Streamlit's AppTest: the app, then the page, rerun --repeats times), and, where Chromium is installed, in
the browser from the real server (`streamlit run app.py`): from the address typed to the page drawn, its
script run ended and its thumbnails shown (the best of --repeats loads, after one warm-up). Prints the
seconds of each and the large/small ratios. The target: the large collection's page under 3 s in the
browser, its cost independent of the size.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402

from mnist_core.drawings import DrawingStore  # noqa: E402

TARGET_S = 3.0


def fill(runs: Path, n: int) -> None:
    """A collection "big" of n drawings (the digits in turn) in the runs folder's store."""
    os.environ["MNIST_RUNS_DIR"] = str(runs)
    store = DrawingStore()
    x = np.zeros((28, 28), np.uint8)
    x[6:22, 12:16] = 255  # a "1"
    store.add("big", 1, x, by="session:bench")
    with sqlite3.connect(store.path) as conn:
        cid, created = conn.execute("SELECT collection_id, created FROM drawings").fetchone()
        conn.executemany(
            "INSERT INTO drawings (collection_id, digit, x28, created, owner) VALUES (?, ?, ?, ?, ?)",
            [(cid, k % 10, x.tobytes(), created, "") for k in range(n - 1)],
        )


def page_times(repeats: int) -> tuple[float, float]:
    """(seconds of the first open, best of `repeats` reruns) of the Digits page."""
    from helpers import open_page

    t0 = time.perf_counter()
    at = open_page("app_pages/digits.py", timeout=600, state={"_lab_visitor": "session:bench"})
    first = time.perf_counter() - t0
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        at.run()
        best = min(best, time.perf_counter() - t0)
    assert not at.exception, [e.value for e in at.exception]
    return first, best


def browser_seconds(runs: Path, repeats: int) -> float | None:
    """The best of `repeats` loads of /Digits in Chromium (after a warm-up), or None without Chromium."""
    import shutil

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        return None
    from conftest import CHROMIUM_FLAGS, AppServer
    from helpers import APP_IDLE
    from playwright.sync_api import sync_playwright

    server = AppServer({"MNIST_RUNS_DIR": str(runs)}, runs / "streamlit.log")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            best = float("inf")
            for k in range(repeats + 1):
                t0 = time.perf_counter()
                page.goto(f"{server.url}/Digits")
                page.get_by_test_id("stImage").first.wait_for(timeout=120_000)
                page.wait_for_selector(APP_IDLE, timeout=120_000)
                if k:  # the first load warms the server (imports, the model list)
                    best = min(best, time.perf_counter() - t0)
            browser.close()
    finally:
        server.stop()
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", type=int, default=20)
    ap.add_argument("--large", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-browser", action="store_true", help="time the page's script only")
    args = ap.parse_args(argv)
    old = os.environ.get("MNIST_RUNS_DIR")
    figures = {}
    try:
        for label, n in (("small", args.small), ("large", args.large)):
            with tempfile.TemporaryDirectory() as tmp:
                fill(Path(tmp), n)
                figures[label] = page_times(args.repeats)
                shown = None if args.no_browser else browser_seconds(Path(tmp), args.repeats)  # None: not measured
                figures[label] = (*figures[label], shown)
                first, rerun, shown = figures[label]
                seen = "not measured" if shown is None else f"{shown:.2f} s"
                print(f"{label:5s} {n:>7,} drawings: script first {first:.2f} s, rerun {rerun:.2f} s; browser {seen}")
    finally:
        if old is None:
            os.environ.pop("MNIST_RUNS_DIR", None)
        else:
            os.environ["MNIST_RUNS_DIR"] = old
    (_, small_rerun, small_seen), (large_first, large_rerun, large_seen) = figures["small"], figures["large"]
    ratios = f"large / small: script {large_rerun / small_rerun:.2f}x"
    if large_seen is not None and small_seen is not None:
        ratios += f", browser {large_seen / small_seen:.2f}x"
    worst = max(t for t in (large_first, large_rerun, large_seen) if t is not None)
    ok = worst < TARGET_S
    verdict = "PASS" if ok else "FAIL"
    print(f"{ratios}; large page {worst:.2f} s: {verdict} (target < {TARGET_S:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
