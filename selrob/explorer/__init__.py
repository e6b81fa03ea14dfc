"""Interactive exploration of both studies' cached results in JupyterLab (notebook
``00_explore.ipynb``): :class:`Explorer` holds the ipywidgets controls and shows the chosen
study's panels; each study's views module (``selectivity_views``, ``shape_bias_views``) holds
the data behind its panels, the panels and its controls; the catalog what the caches hold."""

from selrob.explorer.app import Explorer
from selrob.explorer.catalog import Catalog, find_catalog

__all__ = ["Catalog", "Explorer", "find_catalog"]
