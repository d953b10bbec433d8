"""Digits page cost against a collection's size: the page's script time for a collection of --small
drawings and one of --large (20,000 by default, as a store from before the cap could hold), same process.

    python bench/digits_scale.py [--small 20] [--large 20000] [--repeats 3]

Each collection is written into a fresh runs folder (its drawings inserted in one transaction, as an old
store or an import might hold them); the Digits page is then opened as a visitor (the app, then the page,
Streamlit's AppTest: the page's own script, without a browser) and rerun --repeats times. Prints the first
open and the best rerun in seconds for each, and the large/small ratio of the reruns. The target: the
large collection's page under 3 s, its cost independent of the size.
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", type=int, default=20)
    ap.add_argument("--large", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    old = os.environ.get("MNIST_RUNS_DIR")
    figures = {}
    try:
        for label, n in (("small", args.small), ("large", args.large)):
            with tempfile.TemporaryDirectory() as tmp:
                fill(Path(tmp), n)
                figures[label] = page_times(args.repeats)
                first, rerun = figures[label]
                print(f"{label:5s} {n:>7,} drawings: first open {first:.2f} s, rerun {rerun:.2f} s")
    finally:
        if old is None:
            os.environ.pop("MNIST_RUNS_DIR", None)
        else:
            os.environ["MNIST_RUNS_DIR"] = old
    ratio = figures["large"][1] / figures["small"][1]
    worst = max(figures["large"])
    ok = worst < TARGET_S
    verdict = "PASS" if ok else "FAIL"
    print(f"large / small rerun: {ratio:.2f}x; large page {worst:.2f} s: {verdict} (target < {TARGET_S:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
