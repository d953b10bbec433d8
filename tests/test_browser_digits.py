"""Browser test of "teach it your handwriting": draw a digit, correct the model, fine-tune on the kept
drawings, and read the next drawing with the new model (the real server, Chromium).

The server starts from a small softmax trained here (fine-tuning it takes seconds) on the tests' small
data set; the collection already holds four drawings of each digit, and the one drawn here is the fifth.
"""

from __future__ import annotations

import io
import os
import re
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import digit_image, draw_strokes
from helpers import APP_IDLE, open_draw, prediction

from mnist_core import preprocess, training
from mnist_core.config import TrainConfig
from mnist_core.drawings import DrawingStore

expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect
pytestmark = pytest.mark.browser


@pytest.fixture
def server(app_server, small_data_dir, tmp_path):
    models, runs = tmp_path / "models", tmp_path / "runs"
    training.train(TrainConfig(arch="softmax", max_steps=30), data_root=small_data_dir).save(
        models / "softmax.pt", name="softmax"
    )
    store = DrawingStore(runs)
    for k in range(4):
        for d in range(10):
            store.add("mine", d, preprocess(np.asarray(digit_image(d, width=14 + 3 * k))), by=None)
    server = app_server(
        env={
            "MNIST_MODELS_DIR": str(models),
            "MNIST_RUNS_DIR": str(runs),
            "MNIST_DATA_DIR": str(small_data_dir),
            "OMP_NUM_THREADS": "1",
        }
    )
    return server, store


def test_draw_correct_fine_tune_and_read_with_the_new_model(browser, server):
    server, store = server
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        draw_strokes(page, open_draw(page, server.url), 7)
        prediction(page).wait_for(timeout=60_000)
        page.wait_for_selector(APP_IDLE, timeout=60_000)
        page.locator("button[data-variant=pills]").filter(has_text="7").click()  # "Wrong? It's a 7"
        page.get_by_text("Kept as a").wait_for(timeout=30_000)
        assert store.counts("mine")[7] == 5 and store.drawings("mine", 7)[-1].model == "softmax"

        page.goto(f"{server.url}/Digits")
        go = page.get_by_role("button", name="Fine-tune it")
        go.wait_for(timeout=90_000)
        go.click()
        page.get_by_text("Watch a fine-tuning run's live charts").wait_for(timeout=60_000)
        for _ in range(60):  # the page shows the run's state when drawn: look again until it has finished
            page.wait_for_selector(APP_IDLE, timeout=60_000)
            if page.get_by_test_id("stDataFrame").filter(has_text="finished").count():
                break
            page.wait_for_timeout(2000)
            page.reload()
        expect(page.get_by_test_id("stDataFrame").filter(has_text="softmax_mine")).to_have_count(1, timeout=30_000)

        canvas = open_draw(page, server.url)
        page.locator("[data-testid='stSelectbox']").filter(has_text="Model").locator("input").click()
        page.get_by_role("option", name="softmax_mine").click()
        page.wait_for_selector(APP_IDLE, timeout=60_000)
        draw_strokes(page, canvas, 7)
        prediction(page).wait_for(timeout=60_000)
        page.get_by_role("button", name="✓ Right, keep it as a").or_(page.get_by_text("Wrong? It's")).first.wait_for(
            timeout=30_000
        )  # the new model reads and offers to keep
    finally:
        context.close()


def test_stored_names_show_as_typed_never_as_links_or_formatting(browser, server):
    """A collection named like a web address, or with Markdown's emphasis, is text on Digits and Compare
    (in the selectors, the messages and the held-out caption), as it is in its name."""
    server, store = server
    x = preprocess(np.asarray(digit_image(3)))
    for name in ("www.evil.example", "__dunder__"):
        for d in range(10):
            for _ in range(5):
                store.add(name, d, x, by=None)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        for path, name in (("Digits", "www.evil.example"), ("Digits", "__dunder__"), ("Compare", "www.evil.example")):
            page.goto(f"{server.url}/{path}")
            page.wait_for_selector(APP_IDLE, timeout=120_000)
            box = "dig_collection" if path == "Digits" else "cmp_collection"
            picker = page.locator(f".st-key-{box} input")
            picker.click()
            page.get_by_role("option").filter(has_text=f"{name} (").click()
            expect(picker).to_have_value(re.compile("^" + re.escape(name)), timeout=30_000)
            page.wait_for_timeout(500)  # the rerun the choice starts
            page.wait_for_selector(APP_IDLE, timeout=120_000)
            main = page.get_by_test_id("stMain")
            if path == "Digits":  # shown in the page's words too (Compare: in its selector and a column's help)
                assert name in main.inner_text().replace("\u2060", ""), main.inner_text()[:2000]
            links = main.locator("a").evaluate_all("els => els.map(e => e.href)")
            assert not [h for h in links if "evil" in h], links
            assert not main.locator("strong, em").filter(has_text="dunder").count()
    finally:
        context.close()


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far (user + system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def slow_zip(n: int = 3000, side: int = 600) -> bytes:
    """A valid import that takes the server many seconds: n large PNGs of a drawn 7, each made an input."""
    png = io.BytesIO()
    digit_image(7, size=side, width=side // 12, mode="L", ink=255, paper=0).save(png, "PNG")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for k in range(n):
            z.writestr(f"7/{k:05d}.png", png.getvalue())
    return buf.getvalue()


@pytest.mark.parametrize("leave", ["close the tab", "Cancel"])
def test_closing_the_tab_or_cancel_stops_an_import_and_keeps_nothing_of_it(browser, server, tmp_path, leave):
    """The import reports its progress between entries: each report is where Streamlit stops the script of a
    tab that was closed, or of a page whose Cancel was pressed, so the server does not read on for nobody."""
    server, store = server
    (tmp_path / "slow.zip").write_bytes(slow_zip())
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(f"{server.url}/Digits")
    page.wait_for_selector(APP_IDLE, timeout=120_000)
    page.get_by_text("Import a collection").click()
    page.get_by_label("Into the collection").fill("slow")
    page.get_by_label("Into the collection").press("Enter")
    page.wait_for_timeout(1000)  # as a person would: a file chosen as the name's rerun starts can be dropped
    page.wait_for_selector(APP_IDLE, timeout=60_000)
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(tmp_path / "slow.zip"))
    page.get_by_test_id("stFileUploader").get_by_text("slow.zip").wait_for(timeout=60_000)
    page.get_by_role("button", name="Import", exact=True).click()
    page.get_by_text(re.compile(r"^Reading")).wait_for(timeout=60_000)
    time.sleep(1)  # well into it
    if leave == "Cancel":
        page.get_by_role("button", name="Cancel").click()
        page.wait_for_selector(APP_IDLE, timeout=60_000)
    else:
        context.close()  # the visitor leaves while the server reads the ZIP
    time.sleep(2)  # the next progress report meets the closed tab
    before, t0 = cpu_seconds(server.proc.pid), time.monotonic()
    time.sleep(3)
    busy = (cpu_seconds(server.proc.pid) - before) / (time.monotonic() - t0)
    assert busy < 0.3, f"the server still works on the closed tab's import: {busy:.0%} of a core"
    assert "slow" not in store.collections()  # and nothing of it was kept
    context.close()
