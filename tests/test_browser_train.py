"""Browser tests: the real server (streamlit run app.py) driven by Chromium through Playwright.

Each test starts its own server on the test-made small data set and an empty runs folder. No test
races the machine's speed: a run the test watches while it grows is one that only ends by being
stopped (cnn, 200 epochs of batches of 16), and a run the test waits for is watched to its end
(the small MLP, mlp_128_64, quick on any machine).

Screenshots for the README go to tmp_path always, and to docs/screenshots/ when
MNIST_LAB_SCREENSHOTS=1 is set (so an ordinary test run leaves the repository unchanged).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from helpers import APP_IDLE
from playwright.sync_api import expect

from mnist_core import checkpoints, recipes, settings
from mnist_core.models import ARCHS

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parent.parent
ARCH = "mlp_128_64"
LONG_ARCH = "cnn"  # 200 epochs of batches of 16 take hours on a CPU: such a run ends only when stopped
# One torch thread in the server: on a machine shared with other work, torch's spinning worker
# threads make a small model's steps 30x slower; one thread keeps runs short and steady.
SERVER_ENV = {"OMP_NUM_THREADS": "1"}
LOSS_POINTS = """() => {
  const plot = Array.from(document.querySelectorAll('.js-plotly-plot'))
    .find(d => d.layout && d.layout.title && String(d.layout.title.text).includes('Training loss'));
  return plot && plot.data ? plot.data[0].x.length : -1;
}"""
EPOCH_POINTS = LOSS_POINTS.replace("Training loss", "Accuracy")
# the accuracy chart's running training accuracy (its third line): one point per logged step, like the loss
RUNNING_POINTS = EPOCH_POINTS.replace("plot.data[0].x.length", "plot.data[2].x.length")
# Times, in the browser's own clock, the click on Stop and the moment `text` is first on the page:
# what a person sees, without the test's own (busy-machine) delays around Playwright's calls.
CLOCK_STOP = """text => {
  window.__clickAt = null; window.__shownAt = null;
  document.addEventListener('click', e => {
    const b = e.target.closest('button');
    if (window.__clickAt === null && b && b.innerText.trim() === 'Stop') window.__clickAt = performance.now();
  }, true);
  const has = n => n && n.textContent && n.textContent.includes(text);  // only the changed nodes: cheap
  new MutationObserver(records => {
    if (window.__clickAt === null || window.__shownAt !== null) return;
    if (records.some(r => has(r.target.nodeType === 3 ? r.target : null) || Array.from(r.addedNodes).some(has)))
      window.__shownAt = performance.now();
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def screenshot(page, name: str, tmp_path: Path) -> None:
    page.screenshot(path=str(tmp_path / name), full_page=True)
    if settings.screenshots():
        out = ROOT / "docs" / "screenshots"
        out.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out / name), full_page=True)


@pytest.fixture
def lab(app_server, small_data_dir, tmp_path):
    runs = tmp_path / "runs"
    server = app_server(env={"MNIST_DATA_DIR": str(small_data_dir), "MNIST_RUNS_DIR": str(runs), **SERVER_ENV})
    return server, runs


def open_train(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(f"{server.url}/Train")
    page.get_by_role("button", name="Start training").wait_for(timeout=90_000)
    return context, page


def fill(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Tab")
    expect(box).to_have_value(value)


def choose(page, label: str, option_prefix: str) -> None:
    """Pick an option of the selectbox with this label (options start with option_prefix)."""
    page.locator("[data-testid='stSelectbox']").filter(has_text=label).locator("input").click()
    page.get_by_role("option", name=option_prefix).first.click()


def set_run(page, name: str, epochs: int, log_every: int = 1, arch: str = ARCH) -> None:
    """`arch` (the small MLP by default) without augmentation, for `epochs` of the small data set."""
    choose(page, "Architecture", f"{arch}:")
    page.get_by_text(f"{ARCHS[arch].params:,} parameters").wait_for(timeout=60_000)  # its recipe shows
    page.locator(APP_IDLE).wait_for(timeout=60_000)  # and the rerun that draws its form has ended
    # until the rerun ends, the previous architecture's (stale) widgets are still on the page, and
    # what is typed into them is lost: wait for the form to hold this architecture's recipe
    page.wait_for_function(
        "n => { const e = document.querySelectorAll('input[aria-label=\"Epochs\"]');"
        " return e.length === 1 && e[0].value === n; }",
        arg=str(recipes.quick(arch).epochs),
        timeout=60_000,
    )
    augment = page.get_by_role("switch", name="Augment: random affine")
    if augment.is_checked():
        page.get_by_text("Augment: random affine").click()
    fill(page, "Epochs", str(epochs))
    page.get_by_text("More settings").click()
    fill(page, "Log the loss every N steps", str(log_every))
    fill(page, "Run name", name)


def points_become(page, script: str, expected: int, timeout: float = 60) -> None:
    """Wait until the chart (script: LOSS_POINTS or EPOCH_POINTS) shows `expected` points; the
    chart is drawn again after each rerun, so a single read may fall between two drawings."""
    try:
        page.wait_for_function(f"() => ({script})() === {expected}", timeout=timeout * 1000)
    except Exception as exc:
        raise AssertionError(f"the chart shows {page.evaluate(script)} points, not {expected}") from exc


def wait_text(page, text: str, timeout: float = 240) -> float:
    """Seconds until `text` is visible on the page."""
    t = time.monotonic()
    page.get_by_text(text).first.wait_for(timeout=timeout * 1000)
    return time.monotonic() - t


def chart_grows(page, script: str, more_than: int, timeout: float = 120) -> int:
    """Wait until the chart shows more than `more_than` points; the count it then showed, read in the same
    evaluation (a second read could land while the chart is being redrawn, and find none)."""
    try:
        seen = page.wait_for_function(
            f"() => {{ const n = ({script})(); return n > {more_than} ? n : false; }}", timeout=timeout * 1000
        )
    except Exception as exc:
        raise AssertionError(f"the chart stayed at {page.evaluate(script)} points, not more than {more_than}") from exc
    return int(seen.json_value())


def slowest_batches(page) -> None:
    """Batch size 16, the slider's smallest: the most steps per epoch."""
    thumb = page.locator("[data-testid='stSlider']").filter(has_text="Batch size").get_by_role("slider")
    thumb.focus()
    thumb.press("Home")
    expect(thumb).to_have_attribute("aria-valuetext", "16")


def start_long_run(page, name: str) -> None:
    """Start a run that only ends by being stopped: cnn, 200 epochs of batches of 16 (hours on a CPU)."""
    set_run(page, name, epochs=200, arch=LONG_ARCH)
    slowest_batches(page)
    page.get_by_role("button", name="Start training").click()


def test_the_loss_curve_grows_live_while_a_long_run_trains(browser, lab):
    """The pace is the test's: the run (cnn, 200 epochs of batches of 16, hours on a CPU) only ends by
    being stopped, so the chart is seen to grow however fast or slow the machine is."""
    server, runs = lab
    context, page = open_train(browser, server)
    try:
        start_long_run(page, "live")
        page.locator("[data-testid='stProgress']").wait_for(timeout=90_000)
        first = chart_grows(page, LOSS_POINTS, 0)
        second = chart_grows(page, LOSS_POINTS, first)  # drawn again, with more points, while it runs
        # the accuracy chart moves with it, before any epoch ends: the running training accuracy per step
        running = chart_grows(page, RUNNING_POINTS, first)
        assert running > 0
        assert page.locator("[data-testid='stProgress']").count() == 1, "the run ended on its own"
        chart_grows(page, EPOCH_POINTS, 0)  # an evaluated epoch: Stop now keeps a model
        page.get_by_role("button", name="Stop", exact=True).click()
        wait_text(page, "Stopped: stopped by request")
        meta = checkpoints.read(runs / "live.pt")
        assert meta["arch"] == LONG_ARCH and meta["metrics"]["status"] == "stopped"
        assert meta["config"]["augment"] is False and meta["config"]["log_every"] == 1
        assert len(meta["history"]["steps"]) > second > first > 0
        points_become(page, LOSS_POINTS, len(meta["history"]["steps"]))  # the final drawing has every step
        points_become(page, EPOCH_POINTS, len(meta["history"]["epochs"]))
    finally:
        context.close()


def test_a_short_run_is_watched_to_its_end(browser, lab, tmp_path):
    """A run the test watches to its end through the page: whatever the speed, the page ends on the
    finished run with every logged step and epoch drawn."""
    server, runs = lab
    context, page = open_train(browser, server)
    try:
        set_run(page, "short", epochs=20)
        page.get_by_role("button", name="Start training").click()
        wait_text(page, "Finished: test accuracy")
        page.get_by_role("button", name="Refresh").wait_for(timeout=60_000)  # polling has stopped
        meta = checkpoints.read(runs / "short.pt")
        assert meta["arch"] == ARCH and meta["config"]["augment"] is False and meta["config"]["log_every"] == 1
        assert len(meta["history"]["steps"]) == 20 * -(-1200 // recipes.quick(ARCH).batch_size)
        points_become(page, LOSS_POINTS, len(meta["history"]["steps"]))
        points_become(page, EPOCH_POINTS, 20)
        assert f"{meta['metrics']['test_accuracy']:.2%}" in page.get_by_text("Finished: test accuracy").inner_text()
        screenshot(page, "train.png", tmp_path)
    finally:
        context.close()


def stop_and_time(page, runs: Path, name: str) -> float:
    """Start the run set on the page as `name`, press Stop while it trains: seconds, by the browser's
    clock, from the click to "Stopped" on the page; checks the saved status."""
    fill(page, "Run name", name)
    page.get_by_role("button", name="Start training").click()
    stop = page.get_by_role("button", name="Stop", exact=True)
    stop.wait_for(timeout=90_000)
    page.locator("[data-testid='stProgress']").wait_for(timeout=90_000)
    page.evaluate(CLOCK_STOP, "Stopped: stopped by request")
    stop.click()
    try:  # polled twice a second: the test itself adds little work to the browser it times
        page.wait_for_function("() => window.__shownAt !== null", polling=500, timeout=60_000)
    finally:
        clocked = page.evaluate("() => [window.__clickAt, window.__shownAt]")
    assert None not in clocked, f"the click or the message was not timed: {clocked}"
    assert '"status": "stopped"' in (runs / f"{name}.json").read_text()
    expect(page.get_by_role("button", name="Stop", exact=True)).to_have_count(0, timeout=30_000)
    expect(page.locator("[data-testid='stProgress']")).to_have_count(0, timeout=30_000)
    return page.evaluate("() => (window.__shownAt - window.__clickAt) / 1000")


def test_stop_button_stops_a_run_that_would_train_for_hours(browser, lab, record_property):
    """The run cannot end on its own before the click, so "stopped by request" is Stop's doing. How
    long the page took to show it is recorded (a figure, not a race: the page polls once a second)."""
    server, runs = lab
    context, page = open_train(browser, server)
    try:
        set_run(page, "stopped", epochs=200, log_every=5, arch=LONG_ARCH)
        slowest_batches(page)
        seconds = stop_and_time(page, runs, "stopped")
        record_property("stop_seconds", round(seconds, 3))
        print(f"Stop shown {seconds:.2f} s after the click")
        status = json.loads((runs / "stopped.json").read_text())
        assert status["config"]["batch_size"] == 16 and status["config"]["arch"] == LONG_ARCH
        assert "stopped by request" in status["message"]
    finally:
        context.close()


def test_two_sessions_start_at_once_and_each_sees_its_own_run(browser, lab):
    server, runs = lab
    (c1, p1), (c2, p2) = open_train(browser, server), open_train(browser, server)
    try:
        set_run(p1, "alpha", epochs=2, log_every=2)
        set_run(p2, "beta", epochs=3, log_every=3)
        p1.get_by_role("button", name="Start training").click(no_wait_after=True)
        p2.get_by_role("button", name="Start training").click(no_wait_after=True)
        for page, name, epochs in ((p1, "alpha", 2), (p2, "beta", 3)):
            wait_text(page, "Finished: test accuracy")
            meta = checkpoints.read(runs / f"{name}.pt")
            assert meta["config"]["epochs"] == epochs
            text = page.get_by_text("Finished: test accuracy").inner_text()
            assert f"Saved as {name} in the runs folder" in text and f"{meta['metrics']['test_accuracy']:.2%}" in text
            points_become(page, EPOCH_POINTS, epochs)
            points_become(page, LOSS_POINTS, len(meta["history"]["steps"]))
            run_box = page.locator("[data-testid='stSelectbox']").filter(has_text="Run")
            assert run_box.locator("input").input_value() == name  # each session watches its own run
        alpha, beta = checkpoints.read(runs / "alpha.pt"), checkpoints.read(runs / "beta.pt")
        assert alpha["config"]["log_every"] == 2 and beta["config"]["log_every"] == 3
        assert [p[0] for p in alpha["history"]["steps"]] == list(range(2, 21, 2))
        assert [p[0] for p in beta["history"]["steps"]] == list(range(3, 31, 3))
    finally:
        c1.close()
        c2.close()


def test_home_page_shows_status_and_opens_train(browser, lab, tmp_path):
    server, _ = lab
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    try:
        page.goto(server.url)
        page.get_by_role("heading", name="MNIST Lab").wait_for(timeout=90_000)
        page.get_by_text("MNIST found").wait_for(timeout=30_000)
        for label in ("Dataset", "Device", "Models available"):  # metrics' code loads lazily: wait for each
            metric = page.locator("[data-testid='stMetric']").filter(has_text=label)
            metric.wait_for(timeout=30_000)
            assert metric.count() == 1
        screenshot(page, "home.png", tmp_path)
        page.get_by_role("link", name="Train: pick an architecture").click()
        page.get_by_role("button", name="Start training").wait_for(timeout=90_000)
        assert page.url.rstrip("/").endswith("/Train")
    finally:
        context.close()


@pytest.mark.parametrize("has_data", [True, False], ids=["with-mnist", "without-mnist"])
def test_start_is_on_the_first_screen_and_the_charts_are_drawn_before_a_run(
    browser, app_server, small_data_dir, tmp_path, has_data
):
    """At 1400 x 1000, with MNIST or without it (the missing-data note is one line), Start training is on the
    first screen, and the charts' axes are already drawn: a run's first steps need no chart code to load."""
    folder = small_data_dir if has_data else tmp_path / "no-data"
    server = app_server(env={"MNIST_DATA_DIR": str(folder), "MNIST_RUNS_DIR": str(tmp_path / "runs"), **SERVER_ENV})
    context, page = open_train(browser, server)
    try:
        page.locator(APP_IDLE).wait_for(timeout=60_000)
        expect(page.locator(".js-plotly-plot")).to_have_count(2, timeout=60_000)
        box = page.get_by_role("button", name="Start training").bounding_box()
        assert box["y"] + box["height"] <= 1000, f"Start training ends at {box['y'] + box['height']:.0f} px"
        if not has_data:
            expect(
                page.locator("[data-testid='stAlert']").filter(has_text="MNIST is not on this machine")
            ).to_be_visible()
        screenshot(page, f"train-first-screen-{'data' if has_data else 'no-data'}.png", tmp_path)
    finally:
        context.close()


def test_the_server_stops_cleanly_mid_run_and_writes_the_runs_end(browser, lab, tmp_path, record_property):
    """SIGTERM while a run trains: the run is stopped and its status file says so, and the process exits
    with 0 (a training thread left inside PyTorch when Python tears down aborts it: "terminate called")."""
    server, runs = lab
    context, page = open_train(browser, server)
    try:
        start_long_run(page, "halted")
        chart_grows(page, LOSS_POINTS, 0)
    finally:
        context.close()
    t = time.monotonic()
    server.proc.terminate()
    rc = server.proc.wait(60)
    record_property("exit_seconds", round(time.monotonic() - t, 2))
    log = (tmp_path / "streamlit-0.log").read_text()
    assert rc == 0 and "terminate called" not in log, (rc, log[-2000:])
    status = json.loads((runs / "halted.json").read_text())
    assert status["status"] == "stopped", status["status"]
