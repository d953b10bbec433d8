"""Browser test of the Inside page: a digit drawn on /Draw is explored on the Inside page (the real
server driven by Chromium), every section opened. Takes a screenshot (tmp_path; and, with
MNIST_LAB_SCREENSHOTS=1, docs/screenshots/inside.png for the README). Needs the shipped models.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import draw_strokes
from helpers import APP_IDLE, open_draw, prediction

from mnist_core import settings

expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect
pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "docs" / "screenshots" / "inside.png"
SECTIONS = {  # expander title (its start) -> text that shows once it is computed
    "Structure": "parameters in all",
    "Activations": "turned into probabilities",
    "What the model learned": "filters of the first conv layer",
    "Why this digit": "Integrated Gradients: each pixel's share",
}


@pytest.fixture
def server(shipped_server):
    return shipped_server


def test_a_drawn_digit_explored_on_the_inside_page(browser, server, tmp_path):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    draw_strokes(page, open_draw(page, server.url), 7)
    expect(prediction(page).get_by_test_id("stMetricValue")).to_have_text("7", timeout=60_000)
    page.wait_for_selector(APP_IDLE, timeout=60_000)

    # the sidebar's link (Streamlit's own list, or the app's page links): the same session, so the drawing goes
    page.get_by_test_id("stSidebar").get_by_role("link").filter(has_text="Inside").first.click()
    page.get_by_role("heading", name="Inside the network").wait_for(timeout=60_000)
    page.wait_for_selector(APP_IDLE, timeout=60_000)
    page.get_by_text("your last drawing on the Draw page").wait_for(timeout=30_000)
    reads = page.get_by_test_id("stMetric").filter(has=page.get_by_test_id("stMetricLabel").get_by_text("cnn reads"))
    expect(reads.get_by_test_id("stMetricValue")).to_have_text("7", timeout=30_000)

    for title, shown in SECTIONS.items():
        page.get_by_test_id("stExpander").filter(has_text=title).locator("summary").click()
        page.get_by_text(shown).first.wait_for(timeout=120_000)
        page.wait_for_selector(APP_IDLE, timeout=120_000)
    assert page.get_by_test_id("stDataFrame").count() == 1
    assert page.get_by_text("0: Conv2d → ReLU", exact=True).count() == 1  # the first conv block's maps (not 10:)
    assert page.get_by_text("Grad-CAM: where, coarsely").count() == 1
    assert page.get_by_test_id("stException").count() == 0

    page.set_viewport_size({"width": 1400, "height": 2600})  # the app scrolls inside its own element: a tall view
    page.wait_for_selector(APP_IDLE, timeout=60_000)
    page.evaluate("document.querySelectorAll('*').forEach(e => { if (e.scrollTop) e.scrollTop = 0; })")
    page.screenshot(path=str(tmp_path / "inside.png"))
    if settings.screenshots():
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))
    context.close()
