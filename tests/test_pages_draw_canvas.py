"""Page tests (streamlit.testing.v1.AppTest) of the Draw page's canvas: Undo and Clear, and keeping a drawing,
with a stand-in for the canvas component (AppTest cannot draw on the real one). Untrained checkpoints
(test_pages_draw's fixtures): any prediction will do."""

from __future__ import annotations

import hashlib
import importlib

import pytest
import test_pages_draw as pages
from conftest import digit_image
from PIL import Image
from streamlit.testing.v1 import AppTest
from test_pages_draw import draw_page, encode, kept, metrics, texts, upload

from mnist_core import images

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
isolated, untrained = pages.isolated, pages.untrained  # the Draw page tests' fixtures, by their names here


class FakeCanvas:
    """What the canvas sends: its drawing (json) and its image (PNG). Like the real one, it redraws a
    changed initial drawing and sends it back on the next run (the browser's answer), not at once."""

    def __init__(self) -> None:
        self.json: dict | None = None
        self.png: bytes | None = None
        self.initial: dict | None = None
        self.pending: dict | None = None

    def draw(self, digit: int) -> None:
        self.json = {"objects": [{"type": "path", "left": 40, "top": 40, "width": 200, "height": 200}]}
        self.png = encode(digit_image(digit))

    def stroke(self, digit: int) -> None:
        """One more stroke, after which the canvas shows `digit` (its image: the whole canvas)."""
        n = len((self.json or {}).get("objects", []))
        stroke = {"type": "path", "left": 40 + 30 * n, "top": 40, "width": 100, "height": 200, "strokeWidth": 22}
        self.json = {"objects": [*(self.json or {}).get("objects", []), {**stroke, "path": [["M", 0, 0]] * (n + 1)}]}
        self.png = encode(digit_image(digit))

    def __call__(self, **kw):
        from types import SimpleNamespace

        if self.pending is not None:
            objects = self.pending.get("objects", [])
            self.json, self.pending = {"objects": objects}, None
            self.png = encode(digit_image(3)) if objects else encode(Image.new("RGBA", (280, 280), (0, 0, 0, 255)))
        if kw.get("initial_drawing") is not None and kw["initial_drawing"] != self.initial:
            self.initial = self.pending = kw["initial_drawing"]
        return SimpleNamespace(json_data=self.json, image_bytes=self.png)


def test_after_clear_the_page_shows_its_prompt_not_a_flat_image_message(untrained, monkeypatch):
    at = draw_page()  # (the canvas's module is imported by the page: outside the app it cannot register)
    fake = FakeCanvas()
    monkeypatch.setattr(importlib.import_module("lab_ui.canvas"), "st_canvas", fake)
    fake.draw(3)
    at.run()
    assert "Prediction" in metrics(at)
    at.button[[b.label for b in at.button].index("✕ Clear")].click().run()
    at.run()  # the canvas sends the cleared drawing back
    assert not at.exception and fake.json == {"objects": []}
    shown = texts(at.info)
    assert "Draw a digit (0-9)" in shown and images.FLAT_MESSAGE not in shown, shown
    assert "Prediction" not in metrics(at) and not at.tabs


def image_key(png: bytes) -> str:
    return hashlib.blake2b(png, digest_size=16).hexdigest()


def button(at: AppTest, label: str):
    return at.button[[b.label for b in at.button].index(label)]


@pytest.fixture
def canvas_page(untrained, monkeypatch) -> tuple[AppTest, FakeCanvas]:
    at = draw_page()  # (the canvas's module is imported by the page: outside the app it cannot register)
    fake = FakeCanvas()
    monkeypatch.setattr(importlib.import_module("lab_ui.canvas"), "st_canvas", fake)
    return at, fake


def test_undo_reads_the_drawing_without_its_last_stroke_at_once_from_the_image_the_canvas_sent(canvas_page):
    at, fake = canvas_page
    fake.stroke(1)
    at.run()
    first = fake.png  # what the canvas sent for one stroke
    fake.stroke(4)
    at.run()
    assert at.session_state["draw_pending"]["key"] == image_key(fake.png)
    button(at, "↶ Undo").click().run()  # the click's own run: the canvas has not redrawn yet
    assert not at.exception
    assert "Reading the edited drawing" not in texts(at.caption)
    assert "Prediction" in metrics(at)
    assert at.session_state["draw_pending"]["key"] == image_key(first)  # the one-stroke drawing, read
    at.run()  # the canvas sends the edited drawing back (its own copy of the image): the same reading
    assert fake.json["objects"] == at.session_state["draw_json"]["objects"] and len(fake.json["objects"]) == 1
    assert at.session_state["draw_pending"]["key"] == image_key(first) and "Prediction" in metrics(at)


def test_clear_shows_the_prompt_at_once_without_waiting_for_the_canvas(canvas_page):
    at, fake = canvas_page
    fake.stroke(1)
    at.run()
    fake.stroke(4)
    at.run()
    button(at, "✕ Clear").click().run()
    assert not at.exception and "Prediction" not in metrics(at) and not at.tabs
    assert "Draw a digit (0-9)" in texts(at.info) and "Reading the edited drawing" not in texts(at.caption)
    assert button(at, "↶ Undo").disabled and button(at, "✕ Clear").disabled


def test_an_undo_of_a_drawing_the_canvas_never_sent_waits_for_the_canvas(canvas_page):
    """Two strokes sent as one (the second before the first was sent): Undo has no image to read yet, and
    reads the canvas's copy once it comes."""
    at, fake = canvas_page
    fake.stroke(1)
    fake.stroke(4)
    at.run()
    button(at, "↶ Undo").click().run()
    assert "Reading the edited drawing" in texts(at.caption) and "Prediction" not in metrics(at)
    at.run()
    assert "Reading the edited drawing" not in texts(at.caption) and "Prediction" in metrics(at)
    assert at.session_state["draw_pending"]["key"] == image_key(fake.png)


def test_keeping_a_drawing_gives_a_fresh_canvas_and_says_what_was_kept(canvas_page, runs_dir):
    at, fake = canvas_page
    fake.draw(3)
    at.run()
    top = int(metrics(at)["Prediction"])
    (right,) = [b for b in at.button if b.label.startswith("✓ Right, keep it as a")]
    right.click().run()
    assert not at.exception and [d.digit for d in kept(runs_dir)] == [top]
    assert fake.initial is not None and fake.initial["objects"] == []  # the canvas is sent a cleared drawing
    assert "Prediction" not in metrics(at) and "Draw a digit (0-9)" in texts(at.info)
    assert f"Kept as a **{top}** in" in texts(at.success) and "Draw the next one" in texts(at.success)
    at.run()  # the canvas sends the cleared drawing back: the note stays until the next drawing
    assert fake.json == {"objects": []} and "Kept as a" in texts(at.success)

    fake.stroke(7)
    at.run()
    assert "Prediction" in metrics(at) and not at.success  # the next drawing, nothing kept yet
    at.pills(key="draw_wrong").set_value(2).run()  # a correction keeps and clears too
    assert [d.digit for d in kept(runs_dir)] == [top, 2] and "Kept as a **2**" in texts(at.success)
    assert "Prediction" not in metrics(at)


def test_a_kept_upload_stays_on_the_page_with_its_reading(untrained, runs_dir):
    at = upload(draw_page(), "three.png", encode(digit_image(3)))
    at.pills(key="draw_wrong").set_value(3).run()
    assert "Prediction" in metrics(at) and "Kept as a **3**" in texts(at.success)
