"""Interactive exploration of both studies' cached results in JupyterLab (notebook
``00_explore.ipynb``): :class:`Explorer` holds the ipywidgets controls and panels, the views
modules the data behind each panel, the catalog what the caches hold."""

from selrob.explorer.app import Explorer
from selrob.explorer.catalog import Catalog, find_catalog

__all__ = ["Catalog", "Explorer", "find_catalog"]
