"""The least a drawing page can do: the same canvas as the Draw page and one metric, nothing else.

    streamlit run bench/bare_canvas_app.py

bench/draw_latency.py measures it next to the Draw page: the difference between the two is what
the Draw page's own work costs. It reads the drawing the same way (PNG -> preprocess -> the
default model, cached once per process), so that only the page's extras are left in the
difference; a blank canvas shows a prompt, as on the Draw page. The process is set up as the app's
is (lab_ui.startup: torch's thread count, the allocator, ...), and holds what the app's imports hold
(Streamlit's garbage collection after each script run takes as long), so that the page's own work is
all that differs.
"""

import sys
from pathlib import Path

import streamlit as st
from streamlit_drawable_canvas import st_canvas

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lab_ui  # noqa: E402
from mnist_core import images, inference  # noqa: E402
from mnist_core.preprocess import preprocess  # noqa: E402

lab_ui.startup()


@st.cache_resource
def model() -> inference.Predictor:
    return inference.load_model(inference.default_model_name())


canvas = st_canvas(
    stroke_width=22,
    stroke_color="#FFFFFF",
    background_color="#000000",
    width=280,
    height=280,
    return_image_data=True,
    key="draw_canvas",
)
x = preprocess(images.decode(canvas.image_bytes).pixels) if canvas.image_bytes else None
if x is None:
    st.info("Draw a digit.")
else:
    st.metric("Prediction", str(int(model().proba_batch(x[None])[0].argmax())))
