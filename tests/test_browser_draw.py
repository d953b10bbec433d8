"""Browser tests of the Draw page: the real server (streamlit run app.py) driven by Chromium.

A digit is drawn with mouse strokes (or, on a phone, touches) on the canvas and read back from the
Prediction metric; the page's Clear and Undo buttons edit it. The server has the shipped models only (models/, or
$MNIST_MODELS_DIR), no dataset and no runs; without a trained models/cnn.pt the tests skip.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from conftest import digit_image, draw_strokes, stroke_points
from helpers import APP_IDLE, open_draw, prediction, wait_until

from mnist_core import settings

expect = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect
pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "docs" / "screenshots" / "draw.png"


@pytest.fixture
def server(shipped_server):
    return shipped_server


@pytest.fixture
def draw(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    open_draw(page, server.url)
    yield page
    context.close()


def ink(page) -> int:
    """How much ink the canvas shows: the sum of its drawing layer's red channel (white on black)."""
    return page.locator("canvas.dc-canvas.lower-canvas").first.evaluate(
        "c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data.reduce((s, v, i) => i % 4 ? s : s + v, 0)"
    )


def settles(page, done, what: str, timeout: float = 30) -> None:
    """Wait until done() holds on an idle page (polled: it may look inside the canvas's shadow root)."""
    wait_until(lambda: page.locator(APP_IDLE).count() and done(), timeout, what, interval=0.1)


def reads(page, digit: int, timeout: float = 60) -> None:
    """The Prediction metric settles on `digit` (a multi-stroke digit is sent once per stroke)."""
    expect(prediction(page).get_by_test_id("stMetricValue")).to_have_text(str(digit), timeout=timeout * 1000)
    page.wait_for_selector(APP_IDLE, timeout=timeout * 1000)


def clear(page) -> None:
    """Clear, done when the page shows the prompt again: until the canvas has drawn the cleared drawing
    the page says it is reading the edit (an idle page without a Prediction may still be in between)."""
    page.get_by_role("button", name="✕ Clear").click()
    prediction(page).wait_for(state="detached", timeout=30_000)
    expect(page.get_by_text("Draw a digit (0-9) in the black square")).to_be_visible(timeout=30_000)
    page.wait_for_selector(APP_IDLE, timeout=30_000)


def test_a_drawn_digit_is_read_then_the_cleared_canvas_shows_the_prompt(draw):
    page = draw
    canvas = page.locator("canvas.upper-canvas").first
    assert page.get_by_text("Draw a digit (0-9) in the black square").is_visible()
    assert prediction(page).count() == 0

    draw_strokes(page, canvas, 7)
    reads(page, 7)
    assert "probability" in prediction(page).inner_text()
    bars = page.locator(".mnist-probs .mnist-prob")  # the ten class probabilities, the top one named in full
    expect(bars).to_have_count(10)
    assert "digit 7:" in bars.nth(7).get_attribute("title")
    assert "7: " in page.locator(".mnist-probs").get_attribute("aria-label")
    if settings.screenshots():  # the README's (MNIST_LAB_SCREENSHOTS=1)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))

    clear(page)  # and the prompt is back

    draw_strokes(page, canvas, 4)  # two strokes: the prediction follows the last one
    reads(page, 4)
    clear(page)
    box = canvas.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # a dot, not a digit
    page.get_by_text("only a small dot").wait_for(timeout=30_000)
    assert prediction(page).count() == 0


def test_every_model_and_the_models_view_follow_the_drawing(draw):
    page = draw
    draw_strokes(page, page.locator("canvas.upper-canvas").first, 0)
    reads(page, 0)
    page.get_by_role("tab", name="Every model").click()
    table = page.get_by_test_id("stDataFrame")
    table.wait_for(timeout=30_000)
    # every model's bars (the chart code loads lazily: wait for it); the selected model's bars stay
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    expect(page.locator(".mnist-probs .mnist-prob")).to_have_count(10)
    page.get_by_role("tab", name="Saliency").click()
    page.get_by_text("Which input pixels pushed").wait_for(timeout=30_000)


def test_an_uploaded_photo_is_classified_and_a_text_file_refused(draw, tmp_path):
    page = draw
    page.get_by_text("Upload a photo or scan").click()
    chooser = page.locator("[data-testid='stFileUploaderDropzoneInput']")
    chooser.wait_for(state="attached", timeout=30_000)
    buf = io.BytesIO()
    digit_image(3, size=600, width=48, mode="RGB", ink=(30, 30, 40), paper=(235, 230, 220)).save(buf, "JPEG")
    photo = tmp_path / "three.jpg"
    photo.write_bytes(buf.getvalue())
    chooser.set_input_files(str(photo))
    reads(page, 3)

    text = tmp_path / "notes.png"  # an image's name, not an image's content
    text.write_text("not a picture\n")
    chooser.set_input_files(str(text))
    page.get_by_text("not an image that can be read").wait_for(timeout=30_000)
    assert prediction(page).count() == 0


# Click Undo again the moment the canvas shows the first Undo (it sends that drawing back as it draws it:
# the page gets this answer to the first Undo around the second, as from a person's double click), then
# watch every frame until the page settles: a Prediction on screen (not stale) while Undo is disabled
# (nothing left to take back) is a reading of a drawing that is no longer there.
UNDO_AS_THE_CANVAS_ANSWERS = r"""both => new Promise((done, fail) => {
  const canvas = () => {
    for (const host of document.querySelectorAll('div')) {
      const c = host.shadowRoot && host.shadowRoot.querySelector('canvas.dc-canvas.lower-canvas');
      if (c) return c;
    }
    return null;
  };
  const ink = (c) => c.getContext('2d').getImageData(0, 0, c.width, c.height).data
    .reduce((s, v, i) => i % 4 ? s : s + v, 0);
  const undo = () => Array.from(document.querySelectorAll('button')).find(b => b.innerText.includes('Undo'));
  const shown = () => Array.from(document.querySelectorAll('[data-testid="stMetric"]')).filter(m =>
    m.innerText.includes('Prediction') && m.closest('[data-stale]')?.getAttribute('data-stale') !== 'true');
  const start = performance.now();
  let clicked = null, quiet = null;
  const wrong = [];
  const look = () => {
    const now = performance.now();
    if (clicked === null) {
      const c = canvas();
      if (c && ink(c) < both) { undo().click(); clicked = now; }
      else if (now - start > 30000) return fail(new Error('the canvas did not redraw after the first Undo'));
    } else {
      const idle = document.querySelector("[data-test-script-state='notRunning']") !== null;
      if (undo().disabled && shown().length) wrong.push(shown()[0].innerText.replace(/\s+/g, ' '));
      const settled = idle && undo().disabled && !shown().length && ink(canvas()) === 0;
      quiet = settled ? (quiet ?? now) : null;
      if ((quiet !== null && now - quiet > 1500) || now - clicked > 30000) return done(wrong);
    }
    requestAnimationFrame(look);
  };
  look();
})"""


def test_undo_clicked_twice_at_once_takes_both_strokes_and_reads_nothing_in_between(draw):
    page = draw
    canvas = page.locator("canvas.upper-canvas").first
    undo = page.get_by_role("button", name="↶ Undo")
    draw_strokes(page, canvas, 4)  # two strokes
    reads(page, 4)
    both = ink(page)
    undo.click()
    wrong = page.evaluate(UNDO_AS_THE_CANVAS_ANSWERS, both)
    assert not wrong, f"a prediction was shown with nothing left to undo: {wrong[:3]}"
    settles(
        page,
        lambda: ink(page) == 0 and prediction(page).count() == 0 and undo.is_disabled(),
        "two Undos at once did not end on an empty canvas with nothing read",
    )
    page.get_by_text("Draw a digit (0-9) in the black square").wait_for(timeout=30_000)
    draw_strokes(page, canvas, 7)  # and the canvas draws and reads as before
    reads(page, 7)


PHONE = {"width": 390, "height": 844}  # an iPhone 12-14's CSS viewport
TOOLBAR = """() => {
  for (const host of document.querySelectorAll('div')) {
    const t = host.shadowRoot && host.shadowRoot.querySelector('.dc-toolbar');
    if (t) return getComputedStyle(t).display;
  }
  return null;
}"""


def touch_strokes(page, canvas, digit: int) -> None:
    """Draw a digit with a finger: CDP touch events (Playwright's touchscreen only taps)."""
    cdp = page.context.new_cdp_session(page)
    box = canvas.bounding_box()
    side = box["width"] * 0.7
    for stroke in stroke_points(digit, box["x"] + box["width"] * 0.15, box["y"] + box["height"] * 0.15, side):
        # a finger reports many small moves: 6 between each pair of the stroke's points
        points = [stroke[0]] + [
            (x0 + (x1 - x0) * k / 6, y0 + (y1 - y0) * k / 6)
            for (x0, y0), (x1, y1) in zip(stroke, stroke[1:], strict=False)
            for k in range(1, 7)
        ]
        kinds = ["touchStart", *["touchMove"] * (len(points) - 1)]
        for kind, (x, y) in zip(kinds, points, strict=True):
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def in_view(locator) -> bool:
    box = locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"]


def test_on_a_phone_touch_draws_and_the_canvas_and_prediction_share_the_screen(browser, server, tmp_path):
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True, device_scale_factor=2)
    page = context.new_page()
    try:
        canvas = open_draw(page, server.url)
        undo, clear_button = (page.get_by_role("button", name=n) for n in ("↶ Undo", "✕ Clear"))
        expect(undo).to_be_disabled()  # nothing to take back yet
        # one set of controls: the canvas's own toolbar (undo, redo, edit, bin, send) is hidden
        page.wait_for_function(f"() => ({TOOLBAR})() === 'none'", timeout=30_000)

        touch_strokes(page, canvas, 4)  # two strokes
        reads(page, 4)
        assert in_view(canvas) and in_view(prediction(page)), "a phone must see the canvas and the prediction"
        assert in_view(undo) and in_view(clear_button)
        bars = page.locator(".mnist-probs").bounding_box()
        assert bars["y"] < PHONE["height"] - 60, f"the bars start at {bars['y']:.0f} px: below the first screen"
        pills = page.locator(".st-key-draw_wrong button[data-variant=pills]")
        expect(pills).to_have_count(11)
        for i in range(11):  # "Wrong? It's" 0 to 9 and "not a digit": each whole on the screen, none scrolled away
            box = pills.nth(i).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], f"pill {i} is cut at the edge: {box}"
        row = page.locator(".st-key-draw_wrong [role=radiogroup]")
        assert row.evaluate("r => r.scrollWidth <= r.clientWidth"), "the pills' row scrolls: some are hidden"
        page.screenshot(path=str(tmp_path / "draw-phone.png"))
        if settings.screenshots():
            page.screenshot(path=str(SCREENSHOT.with_name("draw-phone.png")))

        both = ink(page)
        undo.click()  # the upright stroke goes: one stroke is left, still something to read
        # the first Undo is done when the canvas shows one stroke (it sends that drawing back as it draws it)
        # and the page, idle, reads that drawing (while it waits for the canvas it reads nothing)
        settles(
            page,
            lambda: (
                0 < ink(page) < both
                and prediction(page).count() == 1
                and page.get_by_text("Reading the edited drawing").count() == 0
            ),
            "the canvas did not send back the drawing without its last stroke, read",
        )
        expect(undo).to_be_enabled()
        undo.click()  # and then the first: the canvas is empty again
        prediction(page).wait_for(state="detached", timeout=30_000)
        expect(undo).to_be_disabled(timeout=30_000)
        touch_strokes(page, canvas, 1)
        prediction(page).wait_for(timeout=60_000)
        page.wait_for_selector(APP_IDLE, timeout=30_000)
        clear_button.click()
        prediction(page).wait_for(state="detached", timeout=30_000)
        page.get_by_text("Draw a digit (0-9) in the black square").wait_for(timeout=30_000)
        expect(undo).to_be_disabled()
        touch_strokes(page, canvas, 7)  # after a Clear the canvas draws and reads as before
        reads(page, 7)
    finally:
        context.close()


# The Streamlit frontend's code for each kind of element is loaded the first time one is shown: the first
# reading shows the Prediction metric, the pills of "Wrong? It's a", images and a toggle.
FIRST_READING_CODE = ("Metric", "ButtonGroup", "ImageList", "Checkbox")
LOADED_CODE = "() => performance.getEntriesByType('resource').map(e => e.name.split('/').pop())"


def test_the_code_of_the_first_reading_is_loaded_before_the_first_stroke(draw):
    page = draw

    def loaded() -> bool:
        names = page.evaluate(LOADED_CODE)
        return all(any(n.startswith(f"{kind}.") and n.endswith(".js") for n in names) for kind in FIRST_READING_CODE)

    wait_until(loaded, 30, "the Metric, ButtonGroup, ImageList and Checkbox code to load with the page", 0.2)
    assert prediction(page).count() == 0  # nothing drawn yet


# Whether the page ever says it waits for the canvas, watched on every frame from now on.
WATCH_WAITING = """() => {
  window.__waited = false;
  const look = () => {
    if (document.body.innerText.includes('Reading the edited drawing')) window.__waited = true;
    requestAnimationFrame(look);
  };
  look();
}"""


def one_stroke_at_a_time(page, canvas, digit: int) -> None:
    """Draw the digit's strokes, each read (its Prediction shown on an idle page) before the next: the
    canvas has sent the drawing after every stroke, as it does for a person who pauses between them."""
    box = canvas.bounding_box()
    for stroke in stroke_points(
        digit, box["x"] + box["width"] * 0.15, box["y"] + box["height"] * 0.15, box["width"] * 0.7
    ):
        page.mouse.move(*stroke[0])
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(x, y, steps=4)
        page.mouse.up()
        prediction(page).wait_for(timeout=60_000)
        page.wait_for_timeout(300)  # (the canvas sends a stroke 200 ms after the pen is lifted)
        page.wait_for_selector(APP_IDLE, timeout=60_000)


def test_undo_and_clear_answer_without_waiting_for_the_canvas(draw):
    page = draw
    canvas = page.locator("canvas.upper-canvas").first
    one_stroke_at_a_time(page, canvas, 4)
    reads(page, 4)
    both = ink(page)
    page.evaluate(WATCH_WAITING)
    page.get_by_role("button", name="↶ Undo").click()
    settles(page, lambda: 0 < ink(page) < both and prediction(page).count() == 1, "the canvas to show one stroke, read")
    page.get_by_role("button", name="✕ Clear").click()
    settles(
        page,
        lambda: ink(page) == 0 and prediction(page).count() == 0 and page.get_by_text("Draw a digit (0-9)").count(),
        "the cleared canvas and the prompt",
    )
    assert not page.evaluate("window.__waited"), "Undo or Clear waited for the canvas before reading"


def test_keeping_a_drawing_clears_the_canvas_for_the_next(draw):
    page = draw
    canvas = page.locator("canvas.upper-canvas").first
    draw_strokes(page, canvas, 7)
    reads(page, 7)
    page.get_by_role("button", name="✓ Right, keep it as a 7").click()
    page.get_by_text("Kept as a 7 in").wait_for(timeout=30_000)
    settles(page, lambda: ink(page) == 0 and prediction(page).count() == 0, "a blank canvas after keeping")
    expect(page.get_by_text("Draw a digit (0-9) in the black square")).to_be_visible()
    draw_strokes(page, canvas, 1)  # the next drawing is read, and the note of the last one goes
    reads(page, 1)
    expect(page.get_by_text("Kept as a 7 in")).to_have_count(0)
