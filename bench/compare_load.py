"""Compare's load time: from navigation to the table on screen, cold and warm, with and without MNIST.

    python bench/compare_load.py [--data-dir DIR] [--models-dir DIR] [--archs NAME ...] [--without-mnist-only]

For each data setting (MNIST_DATA_DIR at --data-dir, default $MNIST_DATA_DIR, then at an empty folder) the
bench copies the shipped models (models/*.pt and the measurements kept beside them; --archs: only these)
into a fresh folder, as a fresh clone holds them, and opens /Compare in headless Chromium three times:

  cold            a freshly started server, a fresh cache folder, a new browser (nothing in its cache)
  warm, again     the same server: the same browser's second visit, in a new tab (a new session)
  cold, restart   a freshly started server that keeps the cache folder; the same browser, a new tab
                  (a server that has just started is cold: torch and the models load on its first page)

Each visit is timed from navigation (the page's time origin) to the first frame on which the table is on
screen: the grid's canvas has its first and its last model's rows drawn (text in both). The end of the
script run (the charts below the table) is printed beside it. Also printed: how many models the visit
measured and how many it only timed (the measurement cache's new entries: a shipped model's figures are
kept beside its checkpoint, models/NAME.measurements.json, and only its latency, this machine's, is timed
on a first visit). Targets: the table under 3 s warm and under 10 s cold (PASS / FAIL on each line; exit
status 1 if any fails). Figures depend on the machine's load: the first and last lines say it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import CHROMIUM_FLAGS, AppServer  # noqa: E402
from helpers import APP_IDLE  # noqa: E402

from mnist_core import settings  # noqa: E402
from mnist_core.models import ARCHS  # noqa: E402

TARGET_WARM_S, TARGET_COLD_S = 3.0, 10.0
ROW_PX = 35  # the dataframe's header and rows
# Watches the page from its first frame: window.__compare.table (ms since navigation) once the grid's canvas
# shows text in its first and last rows (row N: the N-th model), .done once the script run has ended after.
WATCH = """(() => {
  const t = window.__compare = {};
  const inked = (canvas, row) => {
    const scale = canvas.width / canvas.clientWidth, top = Math.round((row * %(row)d + 5) * scale);
    const height = Math.round((%(row)d - 10) * scale);
    if (!canvas.clientWidth || top + height > canvas.height) return false;
    const px = canvas.getContext('2d').getImageData(0, top, canvas.width, height).data, seen = new Set();
    for (let i = 0; i < px.length && seen.size <= 8; i += 4) seen.add((px[i] << 16) | (px[i + 1] << 8) | px[i + 2]);
    return seen.size > 8;
  };
  const tick = () => {
    const canvas = document.querySelector("[data-testid='stDataFrame'] canvas");
    if (!t.table && canvas && inked(canvas, 1) && inked(canvas, %(n)d)) t.table = performance.now();
    if (t.table && !t.done && document.querySelector("%(idle)s")) t.done = performance.now();
    if (!t.done) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})()"""


def copy_models(src: Path, dest: Path, archs: list[str]) -> int:
    """The shipped checkpoints of `archs` and whatever is kept beside each (its measurements), as a clone
    holds them; returns how many models were copied."""
    dest.mkdir(parents=True)
    n = 0
    for arch in archs:
        for p in sorted(src.glob(f"{arch}.*")):
            shutil.copy2(p, dest / p.name)
        n += (dest / f"{arch}.pt").is_file()
    return n


def cached(cache: Path) -> tuple[int, int]:
    """(models measured, models whose latency only was timed): the measurement cache's entries."""
    return tuple(len(list((cache / "compare").glob(f"{kind}-*"))) for kind in ("summary", "latency"))


def visit(context, url: str, timeout: float) -> tuple[float, float]:
    """(seconds from navigation to the table on screen, to the script run's end) of one visit, in a new tab
    of `context` (a browser: its HTTP cache is the context's)."""
    page = context.new_page()
    try:
        page.goto(f"{url}/Compare")
        page.wait_for_function("() => window.__compare.done", timeout=timeout * 1000)
        got = page.evaluate("() => window.__compare")
        return got["table"] / 1000, got["done"] / 1000
    finally:
        page.close()


def verdict(seconds: float, target: float) -> str:
    return f"{'PASS' if seconds < target else 'FAIL'} (target < {target:.0f} s)"


def one_setting(browser, label: str, data_dir: Path, models_src: Path, archs: list[str], timeout: float, tmp: Path):
    """The three visits of one data setting; yields (printed line, passed)."""
    models, cache, runs = tmp / "models", tmp / "cache", tmp / "runs"
    n = copy_models(models_src, models, archs)
    env = {
        "MNIST_MODELS_DIR": str(models),
        "MNIST_RUNS_DIR": str(runs),
        "MNIST_CACHE_DIR": str(cache),
        "MNIST_DATA_DIR": str(data_dir),
    }
    plan = (
        ("cold", TARGET_COLD_S, True),
        ("warm, again", TARGET_WARM_S, False),
        ("cold, restart", TARGET_COLD_S, True),
    )
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(WATCH % {"row": ROW_PX, "n": n, "idle": APP_IDLE.replace('"', '\\"')})
    server = None
    try:
        for k, (name, target, fresh) in enumerate(plan):
            if fresh:
                if server:
                    server.stop()
                server = AppServer(env, tmp / f"streamlit-{k}.log")
            before = cached(cache)
            table, done = visit(context, server.url, timeout)
            measured, timed = (b - a for a, b in zip(before, cached(cache), strict=True))
            line = (
                f"{label:14s} {name:14s} table {table:6.2f} s (script done {done:6.2f} s); of {n} models "
                f"{measured} measured, {timed} timed: {verdict(table, target)}"
            )
            yield line, table < target
    finally:
        context.close()
        if server:
            server.stop()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=os.environ.get("MNIST_DATA_DIR"), help="a folder holding MNIST/raw/")
    ap.add_argument("--models-dir", default=str(settings.models_dir()), help="the shipped models (models/)")
    ap.add_argument("--archs", nargs="+", default=list(ARCHS), choices=list(ARCHS), help="only these models")
    ap.add_argument("--without-mnist-only", action="store_true", help="skip the visits with MNIST")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds a visit may take at most")
    ap.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"))
    return ap.parse_args(argv)


def run(browser, args: argparse.Namespace) -> bool:
    """Every visit of every data setting in `browser` (a Playwright Chromium), its line printed; whether all
    met their targets."""
    print(f"load average (1 min) {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; models: {' '.join(args.archs)}")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        data_dirs = [] if args.without_mnist_only else [("with MNIST", args.data_dir)]
        for k, (label, data_dir) in enumerate([*data_dirs, ("without MNIST", None)]):
            run_dir = Path(tmp) / str(k)
            run_dir.mkdir()
            if data_dir is None:
                (data_dir := run_dir / "no-data").mkdir()
            for line, passed in one_setting(
                browser, label, Path(data_dir), Path(args.models_dir), args.archs, args.timeout, run_dir
            ):
                print(line, flush=True)
                ok &= passed
    print(f"load average (1 min) {os.getloadavg()[0]:.2f} at the end: {'PASS' if ok else 'FAIL'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if not args.chromium:
        print("Chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 2
    if not args.without_mnist_only and not (args.data_dir and (Path(args.data_dir) / "MNIST" / "raw").is_dir()):
        print("no MNIST: pass --data-dir (a folder holding MNIST/raw/) or --without-mnist-only", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_FLAGS)
        try:
            return 0 if run(browser, args) else 1
        finally:
            browser.close()


if __name__ == "__main__":
    sys.exit(main())
