"""Links between the app's pages."""

from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitAPIException


def page_link(path: str, label: str, icon: str | None = None) -> None:
    """st.page_link to a page of this app by its file (app.py's navigation gives it its URL), or a plain
    caption where that page is not in the navigation (a page script run on its own, without app.py)."""
    try:
        st.page_link(path, label=label, icon=icon)
    except StreamlitAPIException:
        st.caption(f"{label} (page not available)")
