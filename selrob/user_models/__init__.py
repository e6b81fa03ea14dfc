"""Researchers' own models, measured with every measure of both papers.

* :mod:`~selrob.user_models.spec`: architecture specs (``torchvision:NAME``, ``timm:NAME``,
  ``path/to/file.py:FACTORY``) and the networks they build;
* :mod:`~selrob.user_models.weights`: weights files read without running code, fitted strictly;
* :mod:`~selrob.user_models.layers`: the layers the measures read, and modules that are not one layer;
* :mod:`~selrob.user_models.source`: a model as a model source (:func:`model_source` in Python);
* :mod:`~selrob.user_models.store`: models and pairs registered for the command line and notebooks;
* :mod:`~selrob.user_models.commands`: what ``selrob model`` and ``selrob pair`` print.
"""

from selrob.user_models.source import ModelRecord, UserModel, model_source
from selrob.user_models.store import (add_model, add_pair, get_model, pair_sources, registered_models, registered_pairs,
                                      remove_model, remove_pair)

__all__ = ["ModelRecord", "UserModel", "add_model", "add_pair", "get_model", "model_source", "pair_sources",
           "registered_models", "registered_pairs", "remove_model", "remove_pair"]
