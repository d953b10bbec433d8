"""Session memory: 20 browser sessions come and go on a shared server, each uploading a large image.

    python bench/session_memory.py [--sessions 20] [--side 5470] [--app app.py] [--chromium PATH]

Starts the real server (`streamlit run app.py`, the repository's config), opens one warm-up session
(models loaded, every module imported), then, one after the other, `--sessions` sessions that each
open /Draw, upload the same PNG of side x side pixels (a dark bar on white, ~100 KB, issue 14's
5470 x 5470 by default), wait for its prediction and close. The server's resident memory (VmRSS of
its process) is read after the warm-up, while each session is open, after each has closed, and
again 10 s after the last one left.

Prints those figures in MB and the memory kept per session that left: (after all left - after the
warm-up) / sessions. `--app` runs another checkout's app.py (e.g. a `git worktree` of an older
commit) with this repository's config, to compare.
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import CHROMIUM_FLAGS, AppServer  # noqa: E402
from helpers import APP_IDLE, open_draw, prediction  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def big_png(side: int) -> bytes:
    from PIL import Image

    img = Image.new("L", (side, side), 255)
    img.paste(0, (int(side * 0.42), int(side * 0.2), int(side * 0.58), int(side * 0.8)))  # a "1"
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def one_session(browser, url: str, image: Path, pid: int, timeout_s: float = 180) -> float:
    """Open /Draw, upload the image, wait for the prediction; RSS (MB) while it is open; then close."""
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    try:
        page = context.new_page()
        open_draw(page, url, timeout=timeout_s)
        page.get_by_text("Upload a photo or scan").click()
        chooser = page.locator("[data-testid='stFileUploaderDropzoneInput']")
        chooser.wait_for(state="attached", timeout=timeout_s * 1000)
        chooser.set_input_files(str(image))
        prediction(page).wait_for(timeout=timeout_s * 1000)
        page.locator(APP_IDLE).wait_for(timeout=timeout_s * 1000)
        return rss_mb(pid)
    finally:
        context.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--side", type=int, default=5470)
    ap.add_argument("--app", default=str(ROOT / "app.py"), help="the app script (default: this checkout's)")
    ap.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"))
    args = ap.parse_args()
    if not args.chromium:
        print("Chromium not found (apt-get install chromium, or --chromium PATH)")
        return 1
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="session-memory-"))
    image = tmp / "big.png"
    image.write_bytes(big_png(args.side))
    env = {"MNIST_RUNS_DIR": str(tmp / "runs"), "OMP_NUM_THREADS": "1"}
    server = AppServer(env, tmp / "server.log", Path(args.app))
    pid = server.proc.pid
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_FLAGS)
            print(
                f"server {args.app}, {args.sessions} sessions, a {args.side} x {args.side} PNG of "
                f"{image.stat().st_size / 1024:.0f} KB each"
            )
            t = time.perf_counter()
            one_session(browser, server.url, image, pid)
            time.sleep(2)
            warm = rss_mb(pid)
            print(f"after a warm-up session: {warm:.0f} MB ({time.perf_counter() - t:.1f} s)")
            open_, left = [], []
            for i in range(args.sessions):
                open_.append(one_session(browser, server.url, image, pid))
                time.sleep(1)
                left.append(rss_mb(pid))
                print(f"session {i + 1:2d}: {open_[-1]:.0f} MB while open, {left[-1]:.0f} MB after it left")
            browser.close()
        time.sleep(10)
        final = rss_mb(pid)
        print(f"peak while a session was open: {max(open_):.0f} MB; 10 s after the last left: {final:.0f} MB")
        print(
            f"kept per session that left: {(final - warm) / args.sessions:.1f} MB "
            f"({final - warm:+.0f} MB over {args.sessions} sessions)"
        )
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
