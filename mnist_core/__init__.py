"""MNIST Lab's engine: data, architectures, training, checkpoints, preprocessing, inference.

Never imports streamlit. The public API (see DESIGN.md): list_models, load_model, Predictor (and
its Reading), preprocess. Each is imported when first read, so `python -m mnist_core --help` and the modules that need
no torch (catalog, config, recipes, settings, cli) load without it.
"""

from __future__ import annotations

import sys
import types

__all__ = ["Predictor", "Reading", "list_models", "load_model", "preprocess"]
__version__ = "0.1.0"


class _Engine(types.ModuleType):
    """This package, whose public names are imported when first read."""

    @property
    def Predictor(self):
        from .inference import Predictor

        return Predictor

    @property
    def Reading(self):
        from .inference import Reading

        return Reading

    @property
    def list_models(self):
        from .inference import list_models

        return list_models

    @property
    def load_model(self):
        from .inference import load_model

        return load_model

    @property
    def preprocess(self):
        from .preprocess import preprocess

        return preprocess

    @preprocess.setter
    def preprocess(self, value) -> None:
        """Importing the submodule mnist_core.preprocess sets this name to it: the name stays the function."""


sys.modules[__name__].__class__ = _Engine
