"""Soak: a class of visitors on one server for minutes (draw, keep, import, upload, queue runs, stop, delete):
page times, the server's memory and CPU, and whether anything was lost or any page showed an error.

    python bench/soak.py [--visitors 30] [--seconds 300] [--workers 3] [--data-dir DIR] [--chromium PATH]

The real server on a fresh runs folder (MNIST_DATA_DIR: --data-dir, default the environment's or none; one run
at a time per device). `--visitors` Chromium contexts (each its own cookies: its own visitor), a tab each, one
action per visitor in turn for `--seconds`, `--workers` at once (a thread, Playwright and Chromium each). The
actions (--cycle): open a page (Home, Draw, Digits, Compare, Train in turn); draw a digit and keep it in the
visitor's collection vNN; import a ZIP made here (28 x 28 PNGs in DIGIT/) into it on Digits; upload a softmax
checkpoint trained here (none without data) on Compare; queue a short softmax run on Train, every other one
stopped; delete one of the visitor's drawings on Digits. A step's page time: from the navigation or click to
its result shown and the script run ended. Page errors: a Streamlit exception, an error box with a traceback,
"Bad delta path". The server's VmRSS is sampled each second, its CPU (utime + stime) read at start and end.
After up to `--drain` s for the runs to end, the store must hold each visitor's drawings (kept + imported -
deleted, as counted here) and no run may be queued or running: else, or on a page error or failed action,
FAIL (exit code 1).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import itertools
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import zipfile
from collections import Counter, defaultdict
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402
from conftest import CHROMIUM_FLAGS, AppServer, digit_image, draw_strokes  # noqa: E402
from helpers import APP_IDLE, open_draw, prediction, wait_until  # noqa: E402
from PIL import Image  # noqa: E402

from mnist_core import training  # noqa: E402
from mnist_core.config import TrainConfig  # noqa: E402
from mnist_core.drawings import DrawingStore, to_uint8  # noqa: E402
from mnist_core.models import ARCHS  # noqa: E402
from mnist_core.preprocess import preprocess  # noqa: E402
from mnist_core.runs import STATUS_FORMAT  # noqa: E402

PAGES = ("Home", "Draw", "Digits", "Compare", "Train")
MARKS = {"Home": "MNIST Lab", "Digits": "Your digits", "Compare": "Compare models", "Train": "Start training"}
CYCLE = ("open", "draw", "import", "train", "open", "upload", "draw", "delete")
ACTIVE = ("queued", "running")
COUNTS = ("step", "opened", "trains", "kept", "imported", "deleted")  # what each visitor did
LOAD = "%.2f %.2f %.2f"  # the machine's load average: not only this bench's
RUN_STEPS = 20  # each queued run: softmax, stopped after this many steps
# the Train page watches the new run (its "Run" box holds its name), or says why it could not start
WATCHING = """name => document.body.innerText.includes('Could not start')
  || Array.from(document.querySelectorAll("[data-testid='stSelectbox'] input")).some(i => i.value === name)"""
ERRORS_JS = """() => {
  const out = [];
  for (const e of document.querySelectorAll("[data-testid='stException']")) out.push('exception: ' + e.innerText);
  for (const e of document.querySelectorAll("[data-testid='stAlertContentError']"))
    if (e.innerText.includes('Traceback')) out.push('error with a traceback: ' + e.innerText);
  if (document.body.innerText.includes('Bad delta path')) out.push('"Bad delta path" on the page');
  return out.map(s => s.replace(/\\s+/g, ' ').slice(0, 300));
}"""


class Lab:
    """What every worker shares: the server, the files uploaded, the tallies (changed under `lock`)."""

    def __init__(self, url: str, runs: Path, zip_path: Path, ckpt: Path | None, args, cycle: tuple):
        self.url, self.runs, self.zip_path, self.ckpt, self.cycle = url, runs, zip_path, ckpt, cycle
        self.chromium, self.timeout, self.lock = args.chromium, args.timeout, threading.Lock()
        self.times, self.done = defaultdict(list), Counter()
        self.errors, self.failed, self.refused, self.queued = [], [], [], []


def visitor(i: int) -> SimpleNamespace:  # a Chromium context of its own; what it did, counted
    return SimpleNamespace(index=i, name=f"v{i:02d}", page=None, **dict.fromkeys(COUNTS, 0))


def rss_mb(pid: int) -> float:
    return int(re.search(r"^VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text(), re.M).group(1)) / 1024


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process and its waited-for children (fields 14-17 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def sample_rss(pid: int, readings: list[float], halt: threading.Event) -> None:
    """The server's VmRSS every second into `readings` until `halt` is set."""
    while not halt.wait(1.0):
        readings.append(rss_mb(pid))


def make_zip(path: Path, per_digit: int = 2) -> int:
    """An import ZIP as Digits exports one: per_digit 28 x 28 PNGs (white on black) in each DIGIT/ folder."""
    with zipfile.ZipFile(path, "w") as z:
        for d, k in itertools.product(range(10), range(per_digit)):
            png = io.BytesIO()
            Image.fromarray(to_uint8(preprocess(np.asarray(digit_image(d, width=16 + 4 * k))))).save(png, "PNG")
            z.writestr(f"{d}/{k:06d}.png", png.getvalue())
    return 10 * per_digit


def tiny_checkpoint(data_dir: str | None, path: Path) -> Path | None:
    """A softmax trained for a few steps on the data (mnist_core.training), or None without the data."""
    if not data_dir or not (Path(data_dir) / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file():
        return None
    training.train(TrainConfig(arch="softmax", max_steps=30), data_root=data_dir).save(path, name="tiny")
    return path


def timed(page, step: str, act, *shown) -> tuple[str, float]:
    """Do `act`, then wait until the first of `shown` (locators) is on the page and the script run has ended."""
    t = time.perf_counter()
    act()
    functools.reduce(lambda a, b: a.or_(b), shown).first.wait_for()
    page.locator(APP_IDLE).wait_for()
    return step, time.perf_counter() - t


def visit(v: SimpleNamespace, lab: Lab, name: str, steps: list):
    """Open the page `name` in the visitor's tab (a new session of the same visitor); the tab."""
    page = v.page
    if name == "Draw":  # the canvas, then the end of the script run
        steps.append(timed(page, "open Draw", lambda: open_draw(page, lab.url, lab.timeout), page.locator(APP_IDLE)))
        return page
    marker = page.get_by_role("button" if name == "Train" else "heading", name=MARKS[name])  # the page is there
    steps.append(timed(page, f"open {name}", lambda: page.goto(f"{lab.url}/{'' if name == 'Home' else name}"), marker))
    return page


def alert(page):
    return page.get_by_test_id("stAlertContentError").or_(page.get_by_test_id("stAlertContentWarning"))


def must_show(page, ok, what: str) -> None:
    """The step's result is on the page, else it failed: the error or warning box shown instead says why."""
    if not ok.count():
        raise RuntimeError(f"{what}: {(alert(page).first.inner_text() if alert(page).count() else 'no result')[:200]}")


def act_open(v: SimpleNamespace, lab: Lab, steps: list) -> None:
    v.opened += 1
    visit(v, lab, PAGES[(v.index + v.opened - 1) % len(PAGES)], steps)


def act_draw(v: SimpleNamespace, lab: Lab, steps: list) -> None:
    """Draw a digit, put the visitor's collection under "Collection: ...", and press "Right, keep it"."""
    page = visit(v, lab, "Draw", steps)
    canvas = page.locator("canvas.upper-canvas").first
    steps.append(timed(page, "draw", lambda: draw_strokes(page, canvas, (v.index + v.kept) % 10), prediction(page)))
    page.get_by_role("button", name=re.compile(r"^Collection: ")).click()
    box = page.get_by_role("textbox", name="Keep drawings in the collection")
    box.fill(v.name)
    named = page.get_by_role("button", name=f"Collection: {v.name}")
    steps.append(timed(page, "collection", lambda: box.press("Enter"), named))
    page.keyboard.press("Escape")
    keep, kept = page.get_by_role("button", name=re.compile(r"Right, keep it as a")), page.get_by_text("Kept as a")
    steps.append(timed(page, "keep", keep.click, kept, alert(page)))
    must_show(page, kept, "keep")
    v.kept += 1


def act_import(v: SimpleNamespace, lab: Lab, steps: list) -> None:
    page = visit(v, lab, "Digits", steps)
    expander, uploader = page.get_by_text("Import a collection ("), page.get_by_test_id("stFileUploader")
    expander.click()
    page.get_by_label("Into the collection", exact=True).fill(v.name)
    page.get_by_label("Into the collection", exact=True).press("Enter")
    page.wait_for_timeout(1000)  # a person takes a moment: a file chosen while the name's rerun starts can be lost
    page.locator(APP_IDLE).wait_for()
    uploader.filter(has_text="ZIP file").locator("input[type=file]").set_input_files(str(lab.zip_path))
    go, shown = page.get_by_role("button", name="Import", exact=True), uploader.filter(has_text="ZIP file").is_visible
    chosen = uploader.get_by_text(lab.zip_path.name)

    last = [time.monotonic()]

    def ready() -> bool:  # a file set while a rerun was on its way may be dropped: set it again, now and then
        if go.is_visible():
            return True
        if shown() and not chosen.count() and time.monotonic() - last[0] > 5:
            uploader.filter(has_text="ZIP file").locator("input[type=file]").set_input_files(str(lab.zip_path))
            last[0] = time.monotonic()
        return False

    wait_until(ready, lab.timeout, "Import", 0.5)
    done = page.get_by_text(re.compile(r"^Imported \d+ drawings"))
    steps.append(timed(page, "import", go.click, done, alert(page)))
    must_show(page, done, "import")
    v.imported += int(re.search(r"Imported (\d+)", done.first.inner_text()).group(1))


def act_upload(v: SimpleNamespace, lab: Lab, steps: list) -> None:
    if lab.ckpt is None:
        return act_open(v, lab, steps)
    page = visit(v, lab, "Compare", steps)
    chooser = page.get_by_test_id("stFileUploader").filter(has_text="Upload a checkpoint").locator("input[type=file]")
    upload, ok = lambda: chooser.set_input_files(str(lab.ckpt)), page.get_by_text("added as run")  # noqa: E731
    steps.append(timed(page, "upload", upload, ok, alert(page)))
    must_show(page, ok, "upload")
    with lab.lock:
        lab.queued.append(("upload", v.name))


def act_train(v: SimpleNamespace, lab: Lab, steps: list) -> None:
    """A softmax run of RUN_STEPS steps named vNN-rK, queued on Train; every other one stopped right after."""
    page = visit(v, lab, "Train", steps)
    v.trains += 1
    name = f"{v.name}-r{v.trains}"
    page.get_by_test_id("stSelectbox").filter(has_text="Architecture").locator("input").click()
    # until the rerun has drawn softmax's form (its recipe shows), what is typed into the previous one is lost
    recipe = page.get_by_text(f"{ARCHS['softmax'].params:,} parameters")
    steps.append(timed(page, "architecture", page.get_by_role("option", name="softmax:").first.click, recipe))
    page.get_by_text("More settings").click()
    for label, value in (("Stop after steps (0 = no limit)", str(RUN_STEPS)), ("Run name", name)):
        box = page.get_by_label(label, exact=True)
        box.fill(value)
        box.press("Tab")
    refused, start = page.get_by_text("Could not start"), page.get_by_role("button", name="Start training")
    act = lambda: (start.click(), page.wait_for_function(WATCHING, arg=name))  # noqa: E731
    steps.append(timed(page, "train", act, page.locator(APP_IDLE)))
    with lab.lock:
        (lab.refused if refused.count() else lab.queued).append(("train", name))
    stop = page.get_by_role("button", name="Stop", exact=True)
    if v.trains % 2 == 0 and not refused.count() and stop.count():
        steps.append(timed(page, "stop", stop.click, page.get_by_text(re.compile(r"^(Stopped|Finished|Failed)"))))


def act_delete(v: SimpleNamespace, lab: Lab, steps: list) -> None:
    """Delete one of the visitor's own drawings on Digits (its collection picked, the first digit shown)."""
    if v.kept + v.imported <= v.deleted:
        return act_open(v, lab, steps)
    page = visit(v, lab, "Digits", steps)
    picker = page.get_by_test_id("stSelectbox").filter(has=page.get_by_text("Collection", exact=True))
    if not picker.locator("input").input_value().startswith(f"{v.name} ("):
        picker.locator("input").fill(v.name)  # the list shows a few options at a time: typing filters it
        page.get_by_role("option", name=re.compile(rf"^{v.name} \(")).first.click()
        page.locator(APP_IDLE).wait_for()
    cross = page.get_by_role("button", name="✕").first
    done = page.get_by_text("Deleted the drawing.")
    steps.append(timed(page, "delete", cross.click, done, alert(page)))
    must_show(page, done, "delete")
    v.deleted += 1


ACTIONS = {"open": act_open, "draw": act_draw, "import": act_import, "upload": act_upload}
ACTIONS.update(train=act_train, delete=act_delete)


def one_action(v: SimpleNamespace, lab: Lab) -> None:
    kind = lab.cycle[(v.index + v.step) % len(lab.cycle)]
    v.step += 1
    steps, failure = [], None  # (a failed action keeps the times of the steps it did)
    try:
        ACTIONS[kind](v, lab, steps)
    except Exception as exc:  # a timeout, or an error box where the result should be
        why = " ".join([x.strip() for x in str(exc).splitlines() if "waiting for" in x or "Timeout" in x][:2])
        failure = f"{v.name} {kind}: {type(exc).__name__}: {(why or str(exc))[:300]}"
        with contextlib.suppress(Exception):  # what the page showed instead
            failure += " | page: " + v.page.get_by_test_id("stMain").inner_text()[:600].replace("\n", " / ")
    found = ["the page could not be read"]
    with contextlib.suppress(Exception):
        found = v.page.evaluate(ERRORS_JS)
    with lab.lock:
        lab.done[kind] += failure is None
        lab.failed += [failure] if failure else []
        for step, seconds in steps:
            lab.times[step].append(seconds)
        lab.errors.extend(f"{v.name} {kind}: {e}" for e in found)
    if found:  # start the next action on a fresh page
        v.page.goto("about:blank")


def worker(visitors: list[SimpleNamespace], lab: Lab, deadline: float) -> None:
    """One thread: its own Playwright and Chromium, a context per visitor, each visitor in turn."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=lab.chromium, args=CHROMIUM_FLAGS)
        for v in visitors:
            v.page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            v.page.set_default_timeout(lab.timeout * 1000)
        while time.monotonic() < deadline:
            for v in (v for v in visitors if time.monotonic() < deadline):
                one_action(v, lab)
        browser.close()


def statuses(runs: Path) -> dict[str, str]:
    """Each run's status by name, from the runs folder's status files (mnist_core.runs' format)."""
    out = {}
    for path in runs.glob("*.json"):
        with contextlib.suppress(OSError, ValueError):  # one replaced as it is read: the next look sees it
            r = json.loads(path.read_text())
            out.update({r["name"]: r["status"]} if r.get("format") == STATUS_FORMAT else {})
    return out


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, round(q * (len(values) - 1)))]


def report(lab: Lab, visitors: list[SimpleNamespace]) -> bool:
    """Print the figures and the checks; True when nothing was lost, no action failed, no page showed an error."""
    print("actions done: " + ", ".join(f"{k} {lab.done[k]}" for k in ACTIONS) + f" (failed: {len(lab.failed)})")
    print("page time, s (n, median, p95):")
    for step, ts in [*sorted(lab.times.items()), ("overall", [t for xs in lab.times.values() for t in xs])]:
        if ts:
            print(f"  {step:14s} {len(ts):4d}  {statistics.median(ts):6.2f}  {pct(ts, 0.95):6.2f}")
    print(f"server memory: start {lab.rss[0]:.0f} MB, peak {max(lab.rss):.0f} MB, end {lab.rss[-1]:.0f} MB")
    print(f"server CPU: {lab.cpu:.1f} s over {lab.wall:.0f} s (mean {100 * lab.cpu / lab.wall:.0f}% of one core)")
    store = DrawingStore(lab.runs)  # each visitor's collection holds what it kept + imported - deleted
    names, want = store.collections(), {v.name: v.kept + v.imported - v.deleted for v in visitors}
    found = {n: sum(store.counts(n).values()) if n in names else 0 for n in want}
    short = [f"{n}: {found[n]} of {w}" for n, w in want.items() if found[n] != w]
    print(
        f"drawings kept vs found: {sum(want.values())} expected (kept {sum(v.kept for v in visitors)} + imported "
        f"{sum(v.imported for v in visitors)} - deleted {sum(v.deleted for v in visitors)}), "
        f"{sum(found.values())} found" + (f"; differ: {'; '.join(short[:5])}" if short else "")
    )
    runs = statuses(lab.runs)  # every run queued has its status file, none left queued or running
    missing = [n for kind, n in lab.queued if kind == "train" and n not in runs]
    left, kinds = [n for n, status in runs.items() if status in ACTIVE], Counter(k for k, _ in lab.queued)
    print(
        f"runs queued vs ended: {len(lab.queued)} queued ({kinds['train']} runs, {kinds['upload']} uploads; "
        f"{len(lab.refused)} refused); {len(runs)} status files: "
        + ", ".join(f"{s} {n}" for s, n in sorted(Counter(runs.values()).items()))
        + f"; {len(left)} left queued or running after {lab.drained:.0f} s of drain"
        + (f"; no status file for {', '.join(missing[:5])}" if missing else "")
    )
    for what, items in (("page errors", lab.errors), ("failed actions", lab.failed)):
        print(f"{what}: {len(items)}" + "".join(f"\n  {item}" for item in items[:5]))
    return not (short or left or missing or len(runs) < len(lab.queued) or lab.errors or lab.failed)


def soak(args, lab: Lab, pid: int) -> list[SimpleNamespace]:
    """The visitors' actions for args.seconds, then up to args.drain seconds for the runs to end."""
    visitors, readings, halt = [visitor(i) for i in range(args.visitors)], [rss_mb(pid)], threading.Event()
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    threads = [threading.Thread(target=sample_rss, args=(pid, readings, halt), daemon=True)]
    threads += [
        threading.Thread(target=worker, args=(visitors[k :: args.workers], lab, t0 + args.seconds), daemon=True)
        for k in range(min(args.workers, args.visitors))
    ]
    for t in threads:
        t.start()
    for t in threads[1:]:
        t.join()
    print(f"soak over after {time.monotonic() - t0:.0f} s; up to {args.drain:.0f} s for the runs to end")
    t1 = time.monotonic()
    while time.monotonic() - t1 < args.drain and any(s in ACTIVE for s in statuses(lab.runs).values()):
        time.sleep(1.0)
    lab.rss, lab.cpu = [*readings, rss_mb(pid)], cpu_seconds(pid) - cpu0
    lab.drained, lab.wall = time.monotonic() - t1, time.monotonic() - t0
    halt.set()
    return visitors


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--visitors", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--workers", type=int, default=3, help="visitors acting at once (a thread and a Chromium each)")
    ap.add_argument("--drain", type=float, default=300, help="seconds the runs get to end after the soak")
    ap.add_argument("--timeout", type=float, default=180, help="seconds one step may take before it fails")
    ap.add_argument("--cycle", default=",".join(CYCLE), help="each visitor's actions, in turn (default: %(default)s)")
    ap.add_argument("--data-dir", default=os.environ.get("MNIST_DATA_DIR"), help="default: $MNIST_DATA_DIR")
    ap.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"))
    args = ap.parse_args(argv)
    cycle = tuple(args.cycle.split(","))
    if not set(cycle) <= set(ACTIONS):
        ap.error(f"--cycle: the actions are {', '.join(ACTIONS)}")
    if not args.chromium:
        ap.error("Chromium not found (apt-get install chromium, or --chromium PATH)")
    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    try:
        ckpt, n_zip, runs = tiny_checkpoint(args.data_dir, tmp / "tiny.pt"), make_zip(tmp / "digits.zip"), tmp / "runs"
        env = {"MNIST_RUNS_DIR": str(runs), "MNIST_DATA_DIR": args.data_dir or str(tmp / "no-data")}
        server = AppServer({**env, "MNIST_LAB_RUNS_PER_DEVICE": "1", "OMP_NUM_THREADS": "1"}, tmp / "server.log")
        lab, pid = Lab(server.url, runs, tmp / "digits.zip", ckpt, args, cycle), server.proc.pid
        print(f"{args.visitors} visitors, {args.seconds:.0f} s, {args.workers} at once; load {LOAD % os.getloadavg()}")
        uploads = f"a {ckpt.stat().st_size // 1024} KB softmax checkpoint" if ckpt else "none (no data to train one)"
        print(f"actions: {args.cycle}; imports: a ZIP of {n_zip} PNGs; data: {args.data_dir}; uploads: {uploads}")
        try:
            ok = report(lab, soak(args, lab, pid))
        finally:
            server.stop()
        log = re.sub(r"\x1b\[[0-9;]*m", "", (tmp / "server.log").read_text(errors="replace"))
        if crashes := re.findall(r"^([A-Z]\w*(?:Error|Exception)\b.*)$", log, re.M):
            print(f"server log: {len(crashes)} exceptions; the last: {crashes[-1].strip()[:200]}")
        print(f"load at the end: {LOAD % os.getloadavg()}")
        print("PASS: no page error, no failed action, nothing lost" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
