"""The Draw page's "Right, keep it" / "Wrong? It's a ...": the user's labelled drawings (mnist_core.drawings)."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from lab_ui.text import name_md, problem
from lab_ui.visitors import visitor_token
from mnist_core import drawings, inference


def keep_drawing_ui(
    key: str,
    x28,
    png: bytes | None,
    model: str,
    predicted: int,
    on_kept: Callable[[str], None] | None = None,
    is_digit: bool = True,
) -> None:
    """One click keeps this drawing, labelled, in the chosen collection (mnist_core.drawings): right as
    predicted, or corrected to the digit it really is, or to "not a digit" (a model with that output learns
    the user's own non-digits when fine-tuned). Each drawing is kept once; a blank one never reaches here.
    The collection's count per digit is shown. A drawing the model says is not a digit (is_digit False) is
    kept as one by its "Right" button, and the pills keep it as the digit it is. on_kept(note), if given,
    is called once the drawing is kept, with a line saying what was kept (the Draw page clears its canvas
    for the next one)."""
    st.session_state["draw_pending"] = {"key": key, "x28": x28, "png": png, "model": model, "predicted": predicted}
    saved = st.session_state.setdefault("draw_saved", {})
    collection = st.session_state.setdefault("draw_collection", drawings.DEFAULT_COLLECTION)
    row = st.container(horizontal=True)
    with row.popover(f"Collection: {name_md(collection)}"):
        st.text_input(
            "Keep drawings in the collection",
            key="draw_collection",
            max_chars=drawings.NAME_MAX,
            help="a name of your own: one per person, or per class; see them all on the Digits page",
        )
    if key in saved:
        row.success(f"Kept as {_as(saved[key])}. Draw the next one.")
    else:
        label = predicted if is_digit else drawings.NOT_A_DIGIT
        right = f"✓ Right, keep it as {_as(label, bold=False)}"
        row.button(right, on_click=_keep_drawing, args=(label, on_kept), key="draw_right")
        st.pills(
            "Wrong? It's" if is_digit else "It is a digit? It's a",
            list(range(10)) + ([drawings.NOT_A_DIGIT] if is_digit else []),
            format_func=drawings.label_name,
            key="draw_wrong",
            on_change=_keep_corrected,
            args=(on_kept,),
            help="what you meant: kept with that label, for fine-tuning a model on your hand",
        )
    if error := st.session_state.pop("draw_keep_error", None):
        st.warning(error)
    try:
        counts = drawing_store().counts(collection)
    except (drawings.StoreError, OSError) as exc:
        st.caption(f"Drawings cannot be kept: {problem(exc)}")
        return
    st.caption(f"{name_md(collection)}: " + " · ".join(f"{drawings.label_name(d)}: {n}" for d, n in counts.items()))


@st.cache_resource(show_spinner=False)
def _drawing_store(path: str) -> drawings.DrawingStore:
    return drawings.DrawingStore(path)


def drawing_store() -> drawings.DrawingStore:
    """The runs folder's drawings store, checked once per process (not on every Draw rerun); a new
    connection per call inside, so every session and thread may use it. StoreError for a bad file."""
    return _drawing_store(str(inference.runs_dir().resolve()))


def _keep_corrected(on_kept: Callable[[str], None] | None = None) -> None:
    digit = st.session_state.get("draw_wrong")
    st.session_state["draw_wrong"] = None  # the pills clear for the next drawing
    if digit is not None:
        _keep_drawing(int(digit), on_kept)


def _keep_drawing(digit: int, on_kept: Callable[[str], None] | None = None) -> None:
    """The buttons' callback (before the rerun): save the drawing the page last showed."""
    p = st.session_state.get("draw_pending")
    if not p:
        return
    try:
        drawing_store().add(
            st.session_state["draw_collection"],
            digit,
            p["x28"],
            png=p["png"],
            model=p["model"],
            predicted=p["predicted"],
            by=visitor_token(),
        )
    except (drawings.StoreError, OSError) as exc:
        st.session_state["draw_keep_error"] = f"Not kept: {problem(exc)}"
        return
    st.session_state.setdefault("draw_saved", {})[p["key"]] = digit
    if on_kept is not None:
        on_kept(f"Kept as {_as(digit)} in {name_md(st.session_state['draw_collection'])}. Draw the next one.")


def _as(label: int, bold: bool = True) -> str:
    """'a **7**', or '**not a digit**' (without the stars when not bold)."""
    name = f"**{drawings.label_name(label)}**" if bold else drawings.label_name(label)
    return name if label == drawings.NOT_A_DIGIT else f"a {name}"
