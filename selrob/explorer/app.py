"""The explorer: ipywidgets controls over the cached results of the studies and the panels they
drive (notebook ``00_explore.ipynb``).

Each study brings its controls, views and panels (:class:`~selrob.explorer.panels.StudyViews`,
in :data:`STUDY_VIEWS`); the controller here shows those of the chosen study, whichever it is.
Controls offer only what the caches hold (:mod:`selrob.explorer.catalog`); each panel declares
the controls it depends on and is redrawn, from the views of the chosen group of runs, when one
of them changes. Every panel keeps the data it last drew in :attr:`Explorer.data` and how long
the redraw took in :attr:`Explorer.seconds`, so the explorer can be tested and timed without a
browser. A panel whose results are not cached says which command computes them; nothing here
trains or evaluates.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterable
from itertools import zip_longest
from pathlib import Path
from typing import Any

import ipywidgets as widgets
from IPython.display import HTML, Image, display
from matplotlib.figure import Figure

from selrob.errors import SelrobError
from selrob.evaluations.registry import EvaluationSettings
from selrob.explorer.catalog import Catalog, find_catalog
from selrob.explorer.panels import DPI, Panel, StudyViews
from selrob.explorer.bridge_views import BRIDGE
from selrob.explorer.selectivity_views import SELECTIVITY
from selrob.explorer.shape_bias_views import SHAPE_BIAS

#: Each study's controls, views and panels, by the name :func:`selrob.studies.studies` gives it
#: and in its order (the explorer sits below the studies, so tests/test_explorer.py checks that
#: the names match).
STUDY_VIEWS: dict[str, StudyViews] = {study.name: study for study in (SELECTIVITY, SHAPE_BIAS, BRIDGE)}


def _png(fig: Figure) -> Image:
    """The figure rendered here, so that a redraw's time includes its rendering."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return Image(data=buffer.getvalue(), format="png")


class Explorer:
    """Controls and panels over the cached results below ``runs_dir`` (the smoke pairs with
    ``smoke``); ``widget`` is what a notebook displays."""

    def __init__(self, runs_dir: str | Path | None = None, smoke: bool = False, data_dir: str | Path | None = None,
                 catalog: Catalog | None = None) -> None:
        self.settings = EvaluationSettings(smoke=smoke, data_root=None if data_dir is None else str(data_dir))
        self.catalog = catalog or find_catalog(runs_dir, smoke, data_dir)
        #: The studies with something to show.
        self.studies = [name for name, study in STUDY_VIEWS.items() if study.groups(self.catalog)]
        self.data: dict[str, Any] = {}
        self.seconds: dict[str, float] = {}
        self.errors: dict[str, str] = {}
        self._busy = False
        self._views: dict[tuple[str, str], Any] = {}
        panels = [panel for study in STUDY_VIEWS.values() for panel in study.panels]
        self.outputs = {panel.key: widgets.Output() for panel in panels}
        # The studies' rows of controls shown as one: the first row of each, then the second ones.
        rows = [list(dict.fromkeys(name for row in level if row for name in row))
                for level in zip_longest(*(study.rows for study in STUDY_VIEWS.values()))]
        self.controls: dict[str, widgets.Dropdown] = {
            "study": widgets.Dropdown(description="study", options=self.studies),
            "group": widgets.Dropdown(description="models"),
            **{name: widgets.Dropdown(description=name) for name in
               dict.fromkeys(name for study in STUDY_VIEWS.values() for name in study.controls)},
        }
        for name, control in self.controls.items():
            control.observe(lambda change, name=name: self._changed(name), names="value")
        self.widget = widgets.VBox([widgets.HBox([self.controls["study"], self.controls["group"]]),
                                    *(widgets.HBox([self.controls[n] for n in row]) for row in rows),
                                    *self._panel_boxes(panels)])
        if not self.studies:
            self.message = ("No trained runs found: train them with `make reproduce` (or `selrob reproduce --smoke`) "
                            "and open the explorer again.")
        else:
            self.message = ""
            self._changed("study")

    def _panel_boxes(self, panels: list[Panel]) -> list[widgets.Widget]:
        self._boxes: dict[str, widgets.VBox] = {}
        for panel in panels:
            box = widgets.VBox([widgets.HTML(f"<h4>{panel.title}</h4>"), self.outputs[panel.key]])
            box.add_class(f"selrob-panel-{panel.key}")  # for the browser test to find each panel
            self._boxes[panel.key] = box
        halves = [self._boxes[panel.key] for panel in panels if not panel.full_width]
        return [widgets.GridBox(halves, layout=widgets.Layout(grid_template_columns="repeat(2, 50%)")),
                *(self._boxes[panel.key] for panel in panels if panel.full_width)]

    # The chosen values, as the views take them.
    def value(self, name: str) -> Any:
        return self.controls[name].value

    @property
    def study(self) -> str:
        return str(self.value("study"))

    @property
    def _study(self) -> StudyViews:
        return STUDY_VIEWS[self.study]

    @property
    def views(self) -> Any:
        """The views of the chosen study's chosen group (made once per group), which its panels draw."""
        key = (self.study, str(self.value("group")))
        if key not in self._views:
            self._views[key] = self._study.views(self._study.groups(self.catalog)[key[1]], self.settings)
        return self._views[key]

    def _set_options(self, name: str, options: list[Any]) -> None:
        """New options for a control, keeping its value where it is still one of them."""
        control = self.controls[name]
        values = [o[1] if isinstance(o, tuple) else o for o in options]
        previous = control.value
        control.options = options
        control.value = previous if previous in values else (values[0] if values else None)

    def _refill(self, names: Iterable[str]) -> None:
        """New options for the controls ``names`` that follow from the controls above them."""
        for name in names:
            try:
                self._set_options(name, self._options(name))
            except SelrobError:  # what it reads is not cached: the panels say which command computes it
                self._set_options(name, [])

    def _options(self, name: str) -> list[Any]:
        if name == "group":
            return list(self._study.groups(self.catalog))
        return self._study.options(self, name)

    def _changed(self, name: str) -> None:
        """A control changed: refill the controls below it, then redraw the panels depending on it."""
        if self._busy:
            return
        self._busy = True
        try:
            changed = {name}
            study = self._study
            if name in ("study", "group"):
                self._refill(["group", *study.controls] if name == "study" else list(study.controls))
                self._show_study()
                changed = set(study.controls) | {"group"}
            elif name in study.refills:
                self._refill(study.refills[name])
                changed |= set(study.refills[name])
        finally:
            self._busy = False
        self.redraw(changed)

    def _show_study(self) -> None:
        for name in [name for name in self.controls if name not in ("study", "group")]:
            self.controls[name].layout.display = "" if name in self._study.controls else "none"
        for study in STUDY_VIEWS.values():
            for panel in study.panels:
                self._boxes[panel.key].layout.display = "" if study is self._study else "none"

    def redraw(self, changed: Iterable[str]) -> None:
        """Redraw the panels of the current study that depend on a control in ``changed`` (or on
        the group, which every panel does)."""
        changed = set(changed)
        for panel in self._study.panels:
            if not (panel.depends & changed or "group" in changed):
                continue
            started = time.perf_counter()
            output = self.outputs[panel.key]
            try:
                data, shown = panel.draw(self)
                self.data[panel.key] = data
                self.errors.pop(panel.key, None)
            except SelrobError as error:
                self.data[panel.key], shown = None, HTML(f"<p><b>Not available:</b> {error}</p>")
                self.errors[panel.key] = str(error)
            items = [_png(item) if isinstance(item, Figure) else item
                     for item in (shown if isinstance(shown, tuple) else (shown,))]
            output.clear_output(wait=True)
            with output:
                for item in items:
                    display(item)
            self.seconds[panel.key] = time.perf_counter() - started

    def show(self) -> None:
        """Display the explorer (in a notebook)."""
        if self.message:
            display(HTML(f"<p>{self.message}</p>"))
        display(self.widget)
