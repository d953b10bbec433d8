"""The Draw page's input: the canvas with its Undo and Clear, or an uploaded photo.

The page keeps the drawing (st.session_state["draw_json"]) and, for each drawing the canvas has sent,
its image (draw_images, by state_key). Undo and Clear edit the kept drawing and send it to the canvas as
its initial drawing; the page reads the edited drawing at once from the image kept for it (the canvas
sent it when that stroke was the last), and a cleared drawing needs no image. Until the canvas sends the
edited drawing back, what it sends is older and does not replace the edit (see edit_drawing).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from mnist_core import images

CANVAS = 280  # pixels: 10 per MNIST pixel
IMAGES_KEPT = 32  # the images of the last drawings the canvas sent: what Undo reads at once

# The code of the elements a drawing's reading shows first (the Prediction metric, the pills of "Wrong?
# It's a", the model's view as images, the squash toggle): the browser loads each kind's code the first
# time one is shown, one after another, and the Prediction waits for all of them. Loaded while the visitor
# draws, the first drawing of a visit is shown as fast as the next ones.
FIRST_READING_CODE = ("Metric", "ButtonGroup", "ImageList", "Checkbox")


def _chunks(names: tuple[str, ...]) -> list[str]:
    """The file names of Streamlit's frontend code for these element kinds (named NAME.HASH.js)."""
    folder = Path(st.__file__).parent / "static" / "static" / "js"
    return [p.name for n in names for p in sorted(folder.glob(f"{n}.*.js"))[:1] if p.name.count(".") == 2]


# Phones: less space above the title and between the stacked columns, shorter bars, the model picker
# at the end of its column and the pills of "Wrong? It's a" closer together, so the canvas, the prediction
# and its bars fit the first screen and the ten pills one line (and wrap, on a narrower screen, rather than
# scroll out of sight). The canvas's own toolbar (undo, redo, edit, bin, send) goes: the page's Undo and
# Clear are the one set of controls, and the page reads every stroke already. The toolbar lives in the
# component's shadow root, where the page's CSS does not reach: a style is put in it.
PAGE_STYLE = """<style>
.st-key-draw_wrong [role="radiogroup"] { flex-wrap: wrap; }
@media (max-width: 640px) {
  [data-testid="stMainBlockContainer"] { padding-top: 2.5rem; }
  [data-testid="stMainBlockContainer"] h1 { font-size: 1.9rem; padding-bottom: 0.25rem; }
  [data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] .st-key-draw_source) { row-gap: 0.5rem; }
  [data-testid="stColumn"]:has(.st-key-draw_source) > [data-testid="stVerticalBlock"] { gap: 0.75rem; }
  .st-key-draw_model { order: 1; }
  .st-key-draw_wrong button[data-variant="pills"] { padding-left: 9px; padding-right: 9px; }
  .mnist-probs > div:first-child { height: 100px !important; }
  .mnist-probs > div:last-child { display: none; }
}
</style>
<script>
if (!window.mnistLabCanvas) {
  window.mnistLabCanvas = true;
  const css = '.dc-toolbar { display: none !important; }';
  const patch = () => {
    for (const host of document.querySelectorAll("div")) {
      const root = host.shadowRoot;
      if (root && root.querySelector(".dc-toolbar") && !root.querySelector("style[data-mnist-lab]")) {
        const style = document.createElement("style");
        style.dataset.mnistLab = "1";
        style.textContent = css;
        root.appendChild(style);
      }
    }
  };
  setInterval(patch, 300);  // the toolbar is built inside the shadow root after its host: look again (cheap)
  const index = document.querySelector('script[src*="/static/js/index."]');
  if (index) for (const name of __CHUNKS__) import(index.src.replace(/[^/]*$/, name)).catch(() => {});
}
</script>""".replace("__CHUNKS__", json.dumps(_chunks(FIRST_READING_CODE)))


def shape(drawing: dict | None) -> tuple:
    """A drawing's strokes, to the pixel: the same for an edited drawing and the canvas's copy of it."""
    return tuple(
        (o.get("type"), *(round(float(o.get(k) or 0)) for k in ("left", "top", "width", "height")))
        for o in (drawing or {}).get("objects", [])
    )


def state_key(drawing: dict | None) -> tuple:
    """What names a drawing's image: each stroke's box to the pixel (shape), its width and its number of
    path commands; the same for a drawing the canvas sent and that drawing after an edit or its echo."""
    objects = (drawing or {}).get("objects", [])
    return tuple(
        (*s, o.get("strokeWidth"), len(o.get("path") or ())) for s, o in zip(shape(drawing), objects, strict=True)
    )


def kept_image(drawing: dict | None) -> bytes | None:
    """The image the canvas sent for this drawing, if it sent one lately."""
    return st.session_state.get("draw_images", {}).get(state_key(drawing))


def _keep_image(drawing: dict | None, png: bytes | None) -> None:
    """Keep the image the canvas sent with its drawing (the first one for a drawing: one key, one image)."""
    if not png or not (drawing or {}).get("objects"):
        return
    kept = st.session_state.setdefault("draw_images", {})
    kept.setdefault(state_key(drawing), png)
    while len(kept) > IMAGES_KEPT:
        kept.pop(next(iter(kept)))


def edit_drawing(keep: int) -> None:
    """Undo (keep=-1: all strokes but the last) or Clear (keep=0). The canvas redraws a changed
    initial_drawing and sends it back like a stroke; the counter makes each edit a change."""
    drawing = st.session_state.get("draw_json") or {}
    objects = drawing.get("objects", [])[:keep] if keep else []
    st.session_state["draw_edits"] = st.session_state.get("draw_edits", 0) + 1
    st.session_state["draw_initial"] = {**drawing, "objects": objects, "mnistLabEdit": st.session_state["draw_edits"]}
    # the drawing as edited, at once: a second Undo before the canvas sends it back takes the next stroke
    st.session_state["draw_json"] = {**drawing, "objects": objects}
    # Until the canvas sends the edited drawing back, what it sends is older (the drawing before this edit
    # or an earlier one, the echo of an earlier edit): kept from overwriting this edit.
    awaiting = st.session_state.get("draw_awaiting")
    older = {shape(drawing)} | (
        {awaiting} | st.session_state.get("draw_older", set()) if awaiting is not None else set()
    )
    st.session_state["draw_awaiting"] = shape(st.session_state["draw_json"])
    st.session_state["draw_older"] = older - {st.session_state["draw_awaiting"]}


def editing() -> bool:
    """An Undo on its way to the canvas whose drawing's image is not known yet (the canvas did not send
    that drawing lately): nothing is read until the canvas sends it back."""
    drawing = st.session_state.get("draw_json") or {}
    return (
        st.session_state.get("draw_source", "Draw") == "Draw"
        and bool(drawing.get("objects"))
        and kept_image(drawing) is None
    )


def drawing_input_ui() -> tuple[str | None, bytes | None, int]:
    """(key naming the image's content, its bytes, the smallest digit size in pixels), or (None, None, 0)
    before there is an image."""
    source = st.radio(
        "Input", ["Draw", "Upload a photo or scan"], horizontal=True, key="draw_source", label_visibility="collapsed"
    )
    if source == "Draw":
        brush = st.slider(
            "Brush width", 8, 40, 22, key="draw_brush", help="MNIST strokes are about a tenth of the digit's height"
        )
        canvas = st_canvas(
            stroke_width=brush,
            stroke_color="#FFFFFF",
            background_color="#000000",
            width=CANVAS,
            height=CANVAS,
            return_image_data=True,
            key="draw_canvas",
            initial_drawing=st.session_state.get("draw_initial"),
        )
        if canvas.json_data != st.session_state.get("draw_sent"):  # a new drawing from the canvas
            st.session_state["draw_sent"] = canvas.json_data
            _keep_image(canvas.json_data, canvas.image_bytes)  # (an older drawing's image is its own still)
            if shape(canvas.json_data) not in st.session_state.get("draw_older", set()):  # not older than an edit
                st.session_state["draw_json"] = canvas.json_data
                st.session_state["draw_awaiting"], st.session_state["draw_older"] = None, set()
        strokes = bool((st.session_state.get("draw_json") or {}).get("objects"))
        buttons = st.container(horizontal=True)  # side by side on a phone too (columns would stack)
        buttons.button(
            "↶ Undo",
            on_click=edit_drawing,
            args=(-1,),
            disabled=not strokes,
            width="stretch",
            help="take back the last stroke",
        )
        buttons.button("✕ Clear", on_click=edit_drawing, args=(0,), disabled=not strokes, width="stretch")
        if editing():
            st.caption("Reading the edited drawing…")
            return None, None, 0
        # a canvas without strokes (before the first, or cleared) is no drawing yet, not a flat image
        png = kept_image(st.session_state.get("draw_json")) if strokes else None
        # ink no bigger than 1.5 brush widths is one click of the pen: a dot, not a digit
        return (hashlib.blake2b(png, digest_size=16).hexdigest(), png, int(1.5 * brush)) if png else (None, None, 0)
    upload = st.file_uploader(
        "A photo or scan of one handwritten digit",
        key="draw_upload",
        help=f"PNG, JPEG, GIF, BMP, WebP or TIFF, up to {images.MAX_BYTES // 2**20} MB",
    )
    return (f"upload:{upload.file_id}", upload.getvalue(), 0) if upload else (None, None, 0)


def clear_after_keeping(note: str) -> None:
    """After a drawing is kept: a fresh canvas for the next one, and `note` (what was kept) above the prompt
    until the next drawing is read."""
    edit_drawing(0)
    st.session_state["draw_kept_note"] = note
