"""MNIST Lab: `streamlit run app.py`. The entry point of every visit: the process's settings (once), the
pages with their titles, icons and URL paths (here only), each page's browser tab, then the page itself.

The pages live in app_pages/, not pages/: while a folder named pages/ sits next to this file, Streamlit
runs a new server's first visit the legacy way (that folder's files as the pages, app.py not run at all
for a link to /Draw), whatever st.navigation says."""

from typing import NamedTuple

import streamlit as st

import lab_ui


class Page(NamedTuple):
    file: str
    title: str  # in the navigation; the browser tab says "TITLE · MNIST Lab" (the home page: "MNIST Lab")
    url_path: str  # "": the home page, at the app's root
    icon: str  # Material Symbols ship with Streamlit's own font: they show wherever the app does
    tab_icon: str  # an emoji: a Material favicon is drawn black, unreadable on a dark tab bar
    layout: str


PAGES = [
    Page("app_pages/home.py", "Home", "", ":material/home:", "✏️", "centered"),
    Page("app_pages/train.py", "Train", "Train", ":material/model_training:", "🏋️", "wide"),
    Page("app_pages/draw.py", "Draw", "Draw", ":material/draw:", "✍️", "wide"),
    Page("app_pages/compare.py", "Compare", "Compare", ":material/compare:", "📊", "wide"),
    Page("app_pages/inside.py", "Inside", "Inside", ":material/layers:", "🔬", "wide"),
    Page("app_pages/digits.py", "Digits", "Digits", ":material/apps:", "🗂️", "wide"),
]

lab_ui.startup()
current = st.navigation(
    [st.Page(p.file, title=p.title, icon=p.icon, url_path=p.url_path or None, default=not p.url_path) for p in PAGES]
)
page = next((p for p in PAGES if p.url_path == current.url_path), PAGES[0])
st.set_page_config(
    page_title=f"{page.title} · MNIST Lab" if page.url_path else "MNIST Lab",
    page_icon=page.tab_icon,
    layout=page.layout,
)
current.run()
