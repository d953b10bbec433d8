"""Page tests (streamlit.testing.v1.AppTest) for the Draw page: blank input, no models, the model
picker's default, uploads of every awkward kind (a prediction or a clear message, never a
traceback), a photo read like a drawing, and no repeated work on a rerun for the same image.

Flow tests use untrained checkpoints made here (any prediction will do); the test that checks
*which* digit is read uses the shipped models (models/, or $MNIST_MODELS_DIR) and skips without.
"""

from __future__ import annotations

import importlib
import io
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import digit_image
from helpers import open_page
from PIL import Image
from streamlit.testing.v1 import AppTest

import lab_ui
from mnist_core import checkpoints, images, inference
from mnist_core.models import build

ROOT = Path(__file__).resolve().parent.parent
preprocess = importlib.import_module("mnist_core.preprocess")  # the module (the package exports a function so named)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
UPLOAD = "Upload a photo or scan"


@pytest.fixture
def isolated(tmp_path, monkeypatch, runs_dir) -> Path:
    """No dataset, no runs, and an empty models folder (returned) for this test only."""
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path / "no-data"))
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("MNIST_MODELS_DIR", str(models))
    return models


@pytest.fixture
def untrained(isolated) -> Path:
    """Two untrained checkpoints with made-up accuracies (mlp "better"): predictions, not right ones."""
    for arch, acc in (("softmax", 0.90), ("mlp", 0.95)):
        checkpoints.save(isolated / f"{arch}.pt", build(arch), arch, {"arch": arch}, {}, {"test_accuracy": acc})
    return isolated


@pytest.fixture
def shipped(monkeypatch, runs_dir) -> Path:
    d = Path(os.environ.get("MNIST_MODELS_DIR") or ROOT / "models")
    if not (d / "cnn.pt").is_file():
        pytest.skip(f"no trained model at {d / 'cnn.pt'}: reading a real digit needs the shipped models")
    monkeypatch.setenv("MNIST_MODELS_DIR", str(d))
    return d


def draw_page() -> AppTest:
    return open_page("app_pages/draw.py")


def upload(at: AppTest, name: str, data: bytes, mime: str = "application/octet-stream") -> AppTest:
    if at.radio(key="draw_source").value != UPLOAD:
        at.radio(key="draw_source").set_value(UPLOAD).run()
    at.file_uploader(key="draw_upload").set_value((name, data, mime)).run()
    assert not at.exception, at.exception
    return at


def open_tab(at: AppTest, label: str) -> AppTest:
    """Open one of the Draw page's tabs (only the open one runs), as a click on it would."""
    at.session_state["draw_tab"] = label
    at.run()
    assert not at.exception, at.exception
    return at


def metrics(at: AppTest) -> dict:
    return {m.label: m.value for m in at.metric}


def texts(elements) -> str:
    return " | ".join(e.value for e in elements)


def encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


# --- blank input, no models, the default model ---------------------------------------------------
def test_a_blank_canvas_shows_a_prompt_and_no_prediction(untrained):
    at = draw_page()
    assert "Draw a digit" in texts(at.info)
    assert "Prediction" not in metrics(at) and not at.error
    assert at.slider(key="draw_brush").value == 22
    assert at.selectbox(key="draw_model").options == ["softmax", "mlp"]
    assert not at.tabs  # nothing to explain yet


def test_without_any_model_the_page_says_how_to_get_one(isolated):
    at = draw_page()
    assert "No models yet" in texts(at.info) and "Train" in texts(at.info)
    assert not at.selectbox and not at.metric


def test_the_model_picker_defaults_to_the_best_model_available(untrained):
    assert draw_page().selectbox(key="draw_model").value == "mlp"  # 95% beats 90%


# --- uploads: a prediction or a clear message for each ----------------------------------------------
def test_an_uploaded_file_that_is_not_an_image_gets_a_clear_message(untrained):
    at = upload(draw_page(), "notes.txt", b"seven\n" * 100, "text/plain")
    assert "not an image" in texts(at.error)
    assert "Prediction" not in metrics(at) and not at.tabs


def bomb() -> bytes:
    from test_images import png_claiming

    return png_claiming(100_000, 100_000)


def gif() -> bytes:
    frames = [digit_image(d, mode="L", ink=255, paper=0) for d in (2, 5, 8)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)


def png16() -> bytes:
    a = np.asarray(digit_image(4, mode="L", ink=0, paper=255)).astype(np.uint16) * 257  # dark on white, 16-bit
    return encode(Image.fromarray(a))


def cmyk() -> bytes:
    return encode(digit_image(9, mode="RGB", ink=(0, 0, 0), paper=(255, 255, 255)).convert("CMYK"), "JPEG")


def full_canvas() -> bytes:
    return encode(Image.new("RGBA", (280, 280), (255, 255, 255, 255)))


def single_dot() -> bytes:
    img = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    img.paste((255, 255, 255, 255), (138, 138, 143, 143))
    return encode(img)


def thirty_mb() -> bytes:
    noise = np.random.default_rng(1).integers(0, 256, (3200, 3200, 3), dtype=np.uint8)
    return encode(Image.fromarray(noise), compress_level=0)


CASES = {  # name -> (file, what the page shows: element kind and words in it)
    "not-an-image.png": (lambda: b"GIF89a but not really", ("error", "not an image")),
    "bomb.png": (bomb, ("error", "megapixels")),
    "thirty-mb.png": (thirty_mb, ("error", "the limit is 20.0 MB")),
    "one-pixel.png": (lambda: encode(Image.new("L", (1, 1))), ("error", "too small")),
    "animated.gif": (gif, ("metric", "first frame")),
    "sixteen-bit.png": (png16, ("metric", None)),
    "cmyk.jpg": (cmyk, ("metric", None)),
    "fully-inked.png": (full_canvas, ("info", "flat colour")),
    "single-dot.png": (single_dot, ("info", "dot")),
}


@pytest.mark.parametrize("name", list(CASES))
def test_every_awkward_upload_gets_a_prediction_or_a_clear_message(untrained, name):
    make, (kind, words) = CASES[name]
    at = upload(draw_page(), name, make())
    if kind == "metric":
        assert metrics(at)["Prediction"] in [str(d) for d in range(10)]
        assert len(at.tabs) == 3 and not at.error
        if words:
            assert words in texts(at.caption)
    else:
        assert "Prediction" not in metrics(at)
        shown = texts(at.error if kind == "error" else at.info)
        assert words in shown, shown


# --- a photo is read like a drawing (shipped models) -------------------------------------------------
def phone_photo(digit: int) -> bytes:
    """Dark ink on uneven off-white paper with noise, stored sideways with an EXIF orientation tag."""
    rng = np.random.default_rng(digit)
    ink = np.asarray(digit_image(digit, size=900, width=60, mode="L", ink=255, paper=0), np.float32) / 255
    shade = np.linspace(215, 175, 900)[None, :] + rng.normal(0, 6, (900, 900))  # light falls off to the right
    photo = np.clip(shade * (1 - 0.8 * ink), 0, 255).astype(np.uint8)
    exif = Image.Exif()
    exif[images.ORIENTATION] = 6
    sideways = Image.fromarray(photo).convert("RGB").transpose(Image.Transpose.ROTATE_90)
    return encode(sideways, "JPEG", quality=85, exif=exif.tobytes())


@pytest.mark.parametrize("digit", [3, 7])
def test_an_uploaded_phone_photo_is_read_and_explained(shipped, digit):
    at = upload(draw_page(), f"photo-of-{digit}.jpg", phone_photo(digit), "image/jpeg")
    assert at.selectbox(key="draw_model").value == inference.default_model_name()
    assert metrics(at)["Prediction"] == str(digit)
    assert "EXIF" in texts(at.caption)
    assert [t.label for t in at.tabs] == ["What the model sees", "Every model", "Saliency"]
    at.toggle(key="draw_squash").set_value(True).run()
    assert not at.exception
    squashed = [m for m in at.metric if m.label.endswith("reads the squashed image as")]
    assert len(squashed) == 1 and squashed[0].value in [str(d) for d in range(10)]
    table = open_tab(at, "Every model").dataframe[0].value
    assert list(table["Model"]) == inference.list_models()
    assert table["Confidence"].between(0, 1).all()
    assert metrics(at)["Prediction"] == str(digit)
    assert "Which input pixels pushed" in open_tab(at, "Saliency").markdown[0].value


def stretched_one() -> bytes:
    """A 16x16 binarised scan of a flagged 1 stretched to its frame (a stem a quarter as wide as the frame)."""
    one = np.full((16, 16), 255, np.uint8)
    one[:, 7:11] = 0
    for r in range(5):
        one[r, 3 + r : 7 + r] = 0
    return encode(Image.fromarray(one))


def test_a_stretched_scan_is_read_and_shown_at_a_digits_proportions(shipped):
    at = open_tab(upload(draw_page(), "scan-of-1.png", stretched_one(), "image/png"), "What the model sees")
    assert metrics(at)["Prediction"] == "1"  # read as it stands, the block of a 1 was a 7 (0.56)
    captions = [img.proto.imgs[0].caption for img in at.get("image")]
    assert "a scan stretched to its box: its frame" in captions and "0.6 as wide as tall" in captions
    photo = open_tab(upload(draw_page(), "photo-of-3.jpg", phone_photo(3), "image/jpeg"), "What the model sees")
    captions = [img.proto.imgs[0].caption for img in photo.get("image")]
    assert "cropped to its box, made square" in captions and "scaled to 20 x 20" in captions


# --- no repeated work for the same image -------------------------------------------------------------
def test_a_rerun_for_the_same_image_recomputes_nothing(untrained, monkeypatch):
    calls: dict[str, int] = {}

    def counting(owner, name):
        original = getattr(owner, name)

        def wrapper(*a, **k):
            calls[name] = calls.get(name, 0) + 1
            return original(*a, **k)

        monkeypatch.setattr(owner, name, wrapper)

    for owner, name in [
        (images, "decode"),
        (images, "find_digit"),
        (preprocess, "squash"),
        (inference.Predictor, "read_batch"),
        (inference.Predictor, "saliency"),
        (lab_ui, "proba_bars"),
        (lab_ui, "models_figure"),
    ]:
        counting(owner, name)
    at = upload(draw_page(), "four.png", encode(digit_image(4)))
    assert calls["decode"] == calls["find_digit"] == calls["read_batch"] == calls["proba_bars"] == 1
    assert "saliency" not in calls and "models_figure" not in calls  # closed tabs cost nothing
    open_tab(at, "Saliency")
    assert calls["saliency"] == 1 and calls["read_batch"] == 1
    open_tab(at, "Every model")
    first = dict(calls)
    assert first["read_batch"] == 2 and first["models_figure"] == 1  # 2 models
    assert first["decode"] == first["find_digit"] == first["saliency"] == 1

    at.run()  # a rerun with nothing changed
    assert calls == first
    open_tab(at, "Saliency")  # the tab is only shown again
    assert calls == first
    at.selectbox(key="draw_model").set_value("softmax").run()  # its scores are known from "Every model"
    assert calls["decode"] == calls["find_digit"] == 1 and calls["read_batch"] == 2
    assert calls["saliency"] == 2 and calls["proba_bars"] == 2
    at.selectbox(key="draw_model").set_value("mlp").run()  # back: everything is known
    open_tab(at, "What the model sees")
    at.toggle(key="draw_squash").set_value(True).run()
    after_squash = dict(calls)
    assert after_squash["squash"] == 1 and after_squash["read_batch"] == 3
    at.toggle(key="draw_squash").set_value(False).run()
    at.toggle(key="draw_squash").set_value(True).run()
    assert calls == after_squash
    assert not at.exception

    upload(at, "five.png", encode(digit_image(5)))  # a new image is read
    assert calls["decode"] == 2 and calls["find_digit"] == 2


# --- keeping labelled drawings (issue 17) ----------------------------------------------------------
def kept(runs_dir) -> list:
    from mnist_core.drawings import DrawingStore

    return DrawingStore(runs_dir).drawings("mine")


def test_right_keeps_the_drawing_as_predicted_and_wrong_keeps_the_correction(untrained, runs_dir):
    at = upload(draw_page(), "three.png", encode(digit_image(3)))
    top = int(metrics(at)["Prediction"])
    (right,) = [b for b in at.button if b.label.startswith("✓ Right, keep it as a")]
    assert right.label.endswith(str(top))
    right.click().run()
    assert not at.exception
    (d,) = kept(runs_dir)
    assert (d.digit, d.predicted, d.model) == (top, top, at.selectbox(key="draw_model").value)
    assert any("Kept as a" in s.value for s in at.success)
    assert not [b for b in at.button if b.label.startswith("✓ Right")]  # kept once per drawing
    assert f"{top}: 1" in texts(at.caption)

    at = upload(at, "seven.png", encode(digit_image(7)))
    wrong = 7 if top != 7 else 1
    at.pills(key="draw_wrong").set_value(wrong).run()
    assert not at.exception
    assert [d.digit for d in kept(runs_dir)] == [top, wrong]
    assert kept(runs_dir)[1].predicted == int(metrics(at)["Prediction"])


def test_a_blank_image_offers_nothing_to_keep(untrained, runs_dir):
    at = upload(draw_page(), "blank.png", encode(Image.new("L", (200, 200), 0)))
    assert not [b for b in at.button if "keep" in b.label.lower()] and not at.pills
    assert not (runs_dir / "drawings.sqlite3").exists() or kept(runs_dir) == []


def test_a_corrupt_drawings_file_is_named_and_the_page_still_predicts(untrained, runs_dir):
    bad = runs_dir / "drawings.sqlite3"
    bad.write_bytes(b"not a database" * 100)
    at = upload(draw_page(), "three.png", encode(digit_image(3)))
    assert "Prediction" in metrics(at)
    shown = texts(at.caption).replace("\u2060", "")  # (the word joiners that keep names from becoming links)
    assert "drawings.sqlite3" in shown and "cannot be kept" in shown
    assert str(bad.resolve()) not in shown  # the server's path is for the terminal's log
    assert bad.read_bytes() == b"not a database" * 100


def test_the_drawings_database_moved_away_while_the_page_is_open_is_made_anew(untrained, runs_dir):
    at = upload(draw_page(), "three.png", encode(digit_image(3)))
    (right,) = [b for b in at.button if b.label.startswith("✓ Right, keep it as a")]
    right.click().run()
    assert len(kept(runs_dir)) == 1
    (runs_dir / "drawings.sqlite3").rename(runs_dir / "old.sqlite3")  # what an operator is told to do
    at = upload(at, "seven.png", encode(digit_image(7)))
    at.pills(key="draw_wrong").set_value(7).run()
    assert not at.exception and not at.warning, [w.value for w in at.warning]
    assert [d.digit for d in kept(runs_dir)] == [7]  # a new, working store; the old file is untouched
    with sqlite3.connect(runs_dir / "old.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM drawings").fetchone() == (1,)


def test_a_folder_in_the_databases_place_is_named_and_nothing_is_lost(untrained, runs_dir):
    (runs_dir / "drawings.sqlite3").mkdir(parents=True)
    at = upload(draw_page(), "three.png", encode(digit_image(3)))
    assert "Prediction" in metrics(at)
    shown = texts(at.caption).replace("\u2060", "").lower()
    assert "cannot be kept" in shown and "folder" in shown
    assert (runs_dir / "drawings.sqlite3").is_dir() and not list((runs_dir / "drawings.sqlite3").iterdir())


def test_the_saliency_tabs_link_to_inside_has_a_label_that_fits_beside_the_heat_map(untrained):
    at = open_tab(upload(draw_page(), "four.png", encode(digit_image(4))), "Saliency")
    (link,) = [e for e in at.get("page_link") if "Inside" in e.proto.label]
    # a link's label is one line, cut where it meets the edge: a phone's screen (390 px) holds about 36
    assert len(link.proto.label) <= 36, link.proto.label
    assert "Integrated Gradients" in texts(at.markdown)  # what the longer label said, in the text above it
