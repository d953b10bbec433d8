"""The least a drawing page can do: the same canvas as the Draw page and one metric, nothing else.

    streamlit run bench/bare_canvas_app.py

bench/draw_latency.py measures it next to the Draw page: the difference between the two is what
the Draw page's own work costs. It reads the drawing the same way (PNG -> preprocess -> the
default model, cached once per process), so that only the page's extras are left in the
difference; a blank canvas shows a prompt, as on the Draw page. Torch reads on as many threads as
in the app's server (settings.torch_threads: one on a 2-core machine), as the app's start-up sets.
"""

import sys
from pathlib import Path

import streamlit as st
from streamlit_drawable_canvas import st_canvas

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from mnist_core import images, inference, settings  # noqa: E402
from mnist_core.preprocess import preprocess  # noqa: E402

torch.set_num_threads(settings.torch_threads())


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
