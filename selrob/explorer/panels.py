"""What one study brings to the explorer (:class:`StudyViews`): its controls, the views of one
group of its runs, and its panels (:class:`Panel`), with the figure helper the panels share. Each
study's table is in its views module (:mod:`selrob.explorer.selectivity_views`,
:mod:`selrob.explorer.shape_bias_views`); :mod:`selrob.explorer.app` is the controller that
shows them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
from matplotlib.figure import Figure

from selrob.evaluations.registry import EvaluationSettings
from selrob.explorer.catalog import Catalog

if TYPE_CHECKING:
    from selrob.explorer.app import Explorer

#: Resolution of the panels' figures.
DPI = 80


@dataclass(frozen=True)
class Panel:
    """One view: its key (in :attr:`Explorer.data`), title, the controls it depends on, and
    ``draw(explorer) -> (data, what to display)``; a ``full_width`` panel is drawn across the
    whole width, below the others (e.g. a table of every image type)."""

    key: str
    title: str
    depends: frozenset[str]
    draw: Callable[["Explorer"], tuple[Any, Any]]
    full_width: bool = False


@dataclass(frozen=True)
class StudyViews:
    """One study in the explorer, named as :func:`selrob.studies.studies` names it.

    ``rows`` are its controls (after study and group) as the rows they are shown in, top to
    bottom; ``groups(catalog)`` its groups of runs (the group control's options, "dataset /
    arch"); ``views(runs, settings)`` the views of one group, which the panels read through
    :attr:`Explorer.views`; ``options(explorer, name)`` the options of control ``name``, which
    follow from the controls before it; ``refills`` which controls' options follow from a
    change of another (a unit control refilled when the layer changes); ``panels`` what it
    draws."""

    name: str
    rows: tuple[tuple[str, ...], ...]
    groups: Callable[[Catalog], Mapping[str, pd.DataFrame]]
    views: Callable[[pd.DataFrame, EvaluationSettings], Any]
    options: Callable[["Explorer", str], list[Any]]
    refills: Mapping[str, tuple[str, ...]]
    panels: tuple[Panel, ...]

    @property
    def controls(self) -> tuple[str, ...]:
        """Its controls in the order they are shown and refilled."""
        return tuple(name for row in self.rows for name in row)


def figure(width: float = 5.0, height: float = 3.2, columns: int = 1,
           margins: tuple[float, float, float, float] = (0.6, 0.45, 0.15, 0.35)) -> tuple[Figure, Any]:
    """A figure of ``columns`` axes with fixed ``margins`` (left, bottom, right, top, in inches):
    a plain Figure, not pyplot's, and no layout engine, so drawing it costs a third less."""
    size = (width * columns, height)
    fig = Figure(figsize=size, dpi=DPI)
    left, bottom, right, top = margins
    fig.subplots_adjust(left=left / size[0], bottom=bottom / height, right=1 - right / size[0], top=1 - top / height,
                        wspace=0.3)
    axes = fig.subplots(1, columns, squeeze=False)[0]
    return fig, axes if columns > 1 else axes[0]
