"""Browser test of the Compare page: the real server (streamlit run app.py) with the shipped models,
driven by Chromium. The table and the charts must be rendered by the browser, not only sent.

The test set is the real MNIST when $MNIST_DATA_DIR holds it, else the test-made small one.
With MNIST_LAB_SCREENSHOTS=1 the page is also saved to docs/screenshots/compare.png.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from helpers import APP_IDLE
from PIL import Image

from mnist_core import settings
from mnist_core.config import TrainConfig
from mnist_core.models import ARCHS

expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parent.parent
# Plotly figures the browser has drawn: their titles and how many traces each holds
DRAWN_PLOTS = """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
  .filter(d => d.data && d.querySelector('svg.main-svg'))
  .map(d => [d.layout && d.layout.title ? String(d.layout.title.text || '') : '', d.data.length])"""
ROWS_SHOWN = "document.querySelectorAll(\"[data-testid='stDataFrame'] [role='row']\").length"
# the table's rows (its accessible copy): each row's first two cells, the model and its test accuracy
ROW_TEXTS = """g => Array.from(g.querySelectorAll('[role=row]')).slice(1)
  .map(r => Array.from(r.querySelectorAll('[role=gridcell]')).slice(0, 2).map(c => c.textContent))"""


@pytest.fixture
def compare_page(browser, app_server, small_data_dir, tmp_path):
    models = Path(os.environ.get("MNIST_MODELS_DIR") or ROOT / "models")
    if not (models / "cnn.pt").is_file():
        pytest.skip(f"no shipped models in {models}")
    real = os.environ.get("MNIST_DATA_DIR")
    data_dir = real if real and (Path(real) / "MNIST" / "raw").is_dir() else str(small_data_dir)
    server = app_server(
        env={
            "MNIST_MODELS_DIR": str(models),
            "MNIST_RUNS_DIR": str(tmp_path / "runs"),
            "MNIST_DATA_DIR": data_dir,
            "MNIST_CACHE_DIR": str(tmp_path / "cache"),
        }
    )
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    page.goto(f"{server.url}/Compare")
    yield page
    context.close()


def test_compare_shows_every_shipped_model_in_the_table_and_draws_the_charts(compare_page, tmp_path):
    page = compare_page
    page.get_by_role("heading", name="Compare models").wait_for(timeout=90_000)
    page.get_by_text("Misclassified test digits").wait_for(timeout=300_000)  # first open measures each model
    page.wait_for_selector(APP_IDLE, timeout=300_000)
    grid = page.get_by_test_id("stDataFrame").first
    grid.wait_for(timeout=30_000)
    # the grid is drawn on a canvas; its accessible table lists the rows
    page.wait_for_function(
        f"() => document.querySelectorAll(\"[data-testid='stDataFrame'] [role='row']\").length > {len(ARCHS)}",
        timeout=30_000,
    )
    table = grid.evaluate("g => Array.from(g.querySelectorAll('[role=row]')).map(r => r.textContent).join(' | ')")
    for arch in ARCHS:
        assert arch in table, f"{arch} is not in the table"
    page.wait_for_function(f"() => ({DRAWN_PLOTS})().length >= 2", timeout=60_000)
    plots = page.evaluate(DRAWN_PLOTS)
    assert any(traces >= 3 for _, traces in plots), f"no chart overlays the three picked models: {plots}"
    # the gallery (Streamlit loads the image list's code lazily: it can appear after the script ends)
    page.locator("[data-testid='stImage'] img").first.wait_for(timeout=30_000)
    page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
    if settings.screenshots():
        out = ROOT / "docs" / "screenshots"
        out.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out / "compare.png"), full_page=False)


@pytest.fixture
def page_with_a_run(browser, app_server, small_data_dir, tmp_path):
    """Compare with one shipped-like model and one run of the user's, on the tests' small data."""
    from mnist_core import training

    models, runs = tmp_path / "models", tmp_path / "runs"
    for name in ("softmax", "my-first-run"):
        training.train(TrainConfig(arch="softmax", max_steps=5), data_root=small_data_dir).save(
            (models if name == "softmax" else runs) / f"{name}.pt", name=name
        )
    server = app_server(
        env={
            "MNIST_MODELS_DIR": str(models),
            "MNIST_RUNS_DIR": str(runs),
            "MNIST_DATA_DIR": str(small_data_dir),
            "MNIST_CACHE_DIR": str(tmp_path / "cache"),
            "MNIST_LAB_OPERATOR_KEY": "sesame",
        }
    )
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    page.goto(server.url)  # a run of no visitor's (a bare checkpoint) is the operator's to change: sign in
    page.get_by_text("Lab operator").click()
    page.get_by_label("Operator key").fill("sesame")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("You are the lab's operator").wait_for(timeout=60_000)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Compare").click()  # in the app: one session
    yield page, models, runs
    context.close()


def test_a_run_is_renamed_then_deleted_after_a_confirmation_and_the_table_fits(page_with_a_run):
    page, models, runs = page_with_a_run
    table = page.get_by_test_id("stDataFrame").first
    table.wait_for(timeout=120_000)
    page.wait_for_selector(APP_IDLE, timeout=120_000)
    box, main = table.bounding_box(), page.get_by_test_id("stMainBlockContainer").bounding_box()
    assert box["x"] + box["width"] <= main["x"] + main["width"] + 1, (box, main)  # no column cut off at 1400 px
    page.get_by_role("heading", name="Your runs: rename or delete").wait_for(timeout=60_000)
    name_box = page.get_by_label("New name", exact=True)
    name_box.fill("two-layers")
    name_box.press("Tab")
    page.get_by_role("button", name="Rename", exact=True).click()
    page.get_by_text("Renamed my-first-run to two-layers").wait_for(timeout=60_000)
    assert (runs / "two-layers.pt").is_file() and not (runs / "my-first-run.pt").exists()
    delete = page.get_by_role("button", name="Delete", exact=True)
    assert delete.is_disabled()  # not before it is confirmed
    page.wait_for_selector(APP_IDLE, timeout=60_000)  # the rename's rerun has drawn the box for the new name
    page.get_by_text("for good").click()
    # the tick reruns the page, which enables Delete: wait for that state, however slow the machine
    enabled = page.locator("button:not([disabled])").filter(has_text="Delete").first
    expect(enabled).to_be_visible(timeout=120_000)
    enabled.click()
    page.get_by_text("Deleted two-layers").wait_for(timeout=60_000)
    assert not (runs / "two-layers.pt").exists() and (models / "softmax.pt").is_file()  # the shipped one stays
    assert page.get_by_role("heading", name="Your runs: rename or delete").count() == 1  # its message shown


# --- the best model's highlighted cells, in both themes ------------------------------------------------
ROW_PX = 35  # Streamlit's dataframe: the header and every row are 35 px high


def luminance(rgb) -> np.ndarray:
    """WCAG relative luminance of sRGB colours (0..255), shape (..., 3) -> (...)."""
    c = np.asarray(rgb, float) / 255
    c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return c @ [0.2126, 0.7152, 0.0722]


def column_edges(grid: np.ndarray) -> list[int]:
    """The x of each vertical border in the grid's header row (a screenshot, H x W x 3): columns of pixels
    that are one colour from top to bottom of the header, and not its background's."""
    header = grid[3 : ROW_PX - 3]
    background = np.median(header.reshape(-1, 3), axis=0)
    even = (header == header[:1]).all(axis=(0, 2))
    other = np.abs(header[0].astype(int) - background).sum(axis=1) > 6
    xs = np.flatnonzero(even & other)
    return [int(x) for i, x in enumerate(xs) if i == 0 or x > xs[i - 1] + 1]


def cell_colours(grid: np.ndarray, row: int, column: int) -> tuple[np.ndarray, np.ndarray]:
    """(background, text) colours of a cell of a grid screenshot: its commonest colour, and its pixel of
    the highest contrast with it (the core of a glyph). Row 0 is the header, column 0 the first."""
    edges = [0, *column_edges(grid), grid.shape[1]]
    cell = grid[row * ROW_PX + 4 : (row + 1) * ROW_PX - 4, edges[column] + 3 : edges[column + 1] - 3].reshape(-1, 3)
    colours, counts = np.unique(cell, axis=0, return_counts=True)
    background = colours[counts.argmax()]
    lum, bg = luminance(cell), luminance(background)
    ratio = (np.maximum(lum, bg) + 0.05) / (np.minimum(lum, bg) + 0.05)
    return background, cell[ratio.argmax()]


def test_the_best_models_highlighted_cells_are_readable_in_light_and_dark(browser, app_server, tmp_path):
    """The shading of the best model's accuracies keeps the theme (a dark tint under light text in the dark
    theme, a light one under dark text in the light theme, not a pale band on a dark page), its text at
    WCAG AA contrast (4.5:1) or more."""
    models = Path(os.environ.get("MNIST_MODELS_DIR") or ROOT / "models")
    if not (models / "cnn.pt").is_file():
        pytest.skip(f"no shipped models in {models}")
    server = app_server(
        env={
            "MNIST_MODELS_DIR": str(models),
            "MNIST_RUNS_DIR": str(tmp_path / "runs"),
            "MNIST_DATA_DIR": str(tmp_path / "no-data"),
            "MNIST_CACHE_DIR": str(tmp_path / "cache"),
        }
    )
    for scheme in ("dark", "light"):
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, color_scheme=scheme)
        page = context.new_page()
        try:
            page.goto(f"{server.url}/Compare")
            grid = page.get_by_test_id("stDataFrame").first
            grid.wait_for(timeout=300_000)
            page.wait_for_function(f"() => {ROWS_SHOWN} > {len(ARCHS)}", timeout=300_000)
            page.wait_for_selector(APP_IDLE, timeout=300_000)
            rows = grid.evaluate(ROW_TEXTS)  # [[model, test accuracy], ...] in the table's order
            best = max(range(len(rows)), key=lambda i: float(rows[i][1]))
            shot = tmp_path / f"compare-table-{scheme}.png"
            grid.screenshot(path=str(shot))
            image = np.asarray(Image.open(shot).convert("RGB"))
            background, text = cell_colours(image, best + 1, 1)  # the best test accuracy's cell
            plain, _ = cell_colours(image, best + 1, 4)  # its parameter count: not highlighted
            lum_bg, lum_text = luminance(background), luminance(text)
            ratio = (max(lum_bg, lum_text) + 0.05) / (min(lum_bg, lum_text) + 0.05)
            assert ratio >= 4.5, (scheme, background, text, ratio)
            if scheme == "dark":  # light text on a dark tint, as in the rest of the table
                assert lum_text > lum_bg and lum_bg < 0.1, (background, text)
            else:
                assert lum_text < lum_bg and lum_bg > 0.5, (background, text)
            assert (background != plain).any(), "the best model's cell is not highlighted"
        finally:
            context.close()
