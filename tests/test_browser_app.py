"""Browser tests of the app as a whole: the pages' names in the navigation, and the light and dark themes
(the app follows the browser's preference; text, charts and canvas readable in both)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import draw_strokes
from helpers import APP_IDLE, open_draw, prediction

from mnist_core import settings

expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect
pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "docs" / "screenshots"
# the luminance (0 black .. 1 white) of an element's computed colour or background colour
LUMINANCE = """([selector, prop]) => {
  const el = document.querySelector(selector);
  const [r, g, b] = getComputedStyle(el)[prop].match(/[\\d.]+/g).map(Number).map(v => v / 255)
    .map(c => c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}"""


def contrast(a: float, b: float) -> float:
    """WCAG contrast ratio of two luminances (1 to 21; body text wants 4.5 or more)."""
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


@pytest.fixture
def server(shipped_server):
    return shipped_server


@pytest.mark.parametrize(
    "path, title", [("", "MNIST Lab"), ("/Draw", "Draw · MNIST Lab"), ("/Digits", "Digits · MNIST Lab")]
)
def test_the_navigation_names_every_page_wherever_a_visit_starts(browser, server, path, title):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    try:
        page.goto(server.url + path)
        page.wait_for_selector(APP_IDLE, timeout=90_000)
        nav = page.get_by_test_id("stSidebar")
        nav.get_by_role("link", name="Home").wait_for(timeout=30_000)
        links = [t.split()[-1] for t in nav.get_by_role("link").all_inner_texts()]  # after the icon
        assert links == ["Home", "Train", "Draw", "Compare", "Inside", "Digits"], links  # never "app"
        assert page.title() == title
        nav.get_by_role("link", name="Draw").click()
        page.locator("canvas.upper-canvas").first.wait_for(timeout=90_000)
        assert page.url.rstrip("/").endswith("/Draw") and page.title().startswith("Draw")
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_theme_follows_the_system_and_stays_readable(browser, server, scheme, tmp_path):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, color_scheme=scheme)
    page = context.new_page()
    try:
        canvas = open_draw(page, server.url)
        background = page.evaluate(LUMINANCE, ["[data-testid='stApp']", "backgroundColor"])
        assert (background > 0.8) if scheme == "light" else (background < 0.05), (scheme, background)
        title = page.evaluate(LUMINANCE, ["h1", "color"])
        assert contrast(title, background) >= 7, (scheme, title, background)

        draw_strokes(page, canvas, 7)
        expect(prediction(page).get_by_test_id("stMetricValue")).to_have_text("7", timeout=60_000)
        value = page.evaluate(LUMINANCE, ["[data-testid='stMetricValue']", "color"])
        assert contrast(value, background) >= 4.5, (scheme, value, background)
        page.locator(".mnist-probs").first.wait_for(timeout=30_000)  # the probability bars (lab_ui.proba_bars)
        digits = page.evaluate(LUMINANCE, [".mnist-probs > div:nth-child(2) > div", "color"])
        assert contrast(digits, background) >= 4.5, (scheme, digits, background)  # the bars' digit labels read
        page.wait_for_selector(APP_IDLE, timeout=30_000)
        name = f"draw-{scheme}.png"
        page.screenshot(path=str(tmp_path / name))
        if settings.screenshots():
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / name))
    finally:
        context.close()
