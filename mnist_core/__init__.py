"""MNIST Lab's engine: data, architectures, training, checkpoints, preprocessing, inference.

Never imports streamlit. The public API (see DESIGN.md): list_models, load_model, Predictor,
preprocess.
"""

from .inference import Predictor, list_models, load_model
from .preprocess import preprocess

__all__ = ["Predictor", "list_models", "load_model", "preprocess"]
__version__ = "0.1.0"
