"""Browser test of the Draw page's verdict: a star drawn with the mouse reads "Not a digit" (its guess
greyed), then a 3 drawn after Clear reads 3, and a dash after it is not a digit again. The real server
with the shipped models; it needs a shipped default model with a "not a digit" output."""

from __future__ import annotations

import math

import pytest
from conftest import draw_strokes
from helpers import APP_IDLE, open_draw, prediction
from test_browser_draw import clear, reads, server  # noqa: F401 (the server fixture)

import mnist_core

expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect
pytestmark = pytest.mark.browser


def star(page, canvas) -> None:
    """A five-pointed star in one stroke (each point joined to the one two along), as a visitor draws it."""
    box = canvas.bounding_box()
    cx, cy, r = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box["width"] * 0.36
    points = [(cx + r * math.sin(math.radians(144 * k)), cy - r * math.cos(math.radians(144 * k))) for k in range(6)]
    page.mouse.move(*points[0])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x, y, steps=6)
    page.mouse.up()


def dash(page, canvas) -> None:
    """A dash across the canvas's middle, a little off level: no digit (a standing stroke is a 1)."""
    box = canvas.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.25, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.75, y - box["height"] * 0.05, steps=10)
    page.mouse.up()


def test_a_star_is_not_a_digit_a_three_is_a_three_and_a_dash_no_digit(browser, server):  # noqa: F811
    if not mnist_core.load_model("cnn").has_detector:
        pytest.skip('the shipped cnn has no "not a digit" output')
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        open_draw(page, server.url)
        canvas = page.locator("canvas.upper-canvas").first
        star(page, canvas)
        expect(prediction(page).get_by_test_id("stMetricValue")).to_have_text("Not a digit", timeout=60_000)
        page.wait_for_selector(APP_IDLE, timeout=60_000)
        expect(page.get_by_text("That doesn't look like a digit")).to_be_visible()
        expect(page.locator(".mnist-probs-muted")).to_have_count(1)  # its guess, greyed
        clear(page)
        draw_strokes(page, canvas, 3)
        reads(page, 3)
        expect(page.locator(".mnist-probs-muted")).to_have_count(0)
        clear(page)
        dash(page, canvas)
        expect(prediction(page).get_by_test_id("stMetricValue")).to_have_text("Not a digit", timeout=60_000)
    finally:
        context.close()
