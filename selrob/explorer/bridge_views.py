"""The explorer's views of the bridge study (``bridge``): for one architecture of the embedded
world with both its S / R pairs and its alpha sweep trained, a first-paper measure per layer (S
against R) and a second-paper measure against alpha, read from the cached evaluations only (a
missing one is a :class:`~selrob.errors.SelrobError` naming the command that computes it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd

from selrob.evaluations.registry import EvaluationSettings
from selrob.explorer.catalog import Catalog
from selrob.explorer.panels import Panel, StudyViews, figure
from selrob.plotting.shape_bias import plot_layer_values
from selrob.tables import bridge

if TYPE_CHECKING:
    from selrob.explorer.app import Explorer

#: The first paper's measures per layer: label -> (table of :mod:`selrob.tables.bridge`, column, row filter).
PAIR_MEASURES: dict[str, tuple[str, str, str | None]] = {
    "class selectivity": ("selectivity", "selectivity", None),
    "PCA-95% dimensionality, clean": ("dimensionality", "dimensionality", "clean"),
    "PCA-95% dimensionality, noise": ("dimensionality", "dimensionality", "noise"),
    "PCA-95% dimensionality, PGD": ("dimensionality", "dimensionality", "pgd"),
    "CV_u (gradients within units)": ("gradients", "mean_cv_u", None),
    "CV_l (gradients across units)": ("gradients", "cv_l", None),
}
#: The second paper's measures per run: label -> (table, column).
ALPHA_MEASURES: dict[str, tuple[str, str]] = {
    "class selectivity": ("runs", "mean_selectivity"),
    "shape bias": ("shape_bias", "shape"),
    **{f"accuracy, {name}": ("distorted", name) for name in bridge.DISTORTED},
    "mean kernel TV": ("kernel_tv", "mean_tv"),
    "texture units": ("units", "texture"),
    "object units": ("units", "object"),
    "colour units": ("units", "color"),
}


class BridgeViews:
    """The views of one architecture: ``runs`` holds its pair models (``part`` "pairs") and its
    alpha sweep's runs (``part`` "sweep")."""

    def __init__(self, runs: pd.DataFrame, settings: EvaluationSettings | None = None) -> None:
        self.pairs = runs[runs["part"] == "pairs"].reset_index(drop=True)
        self.sweep = runs[runs["part"] == "sweep"].reset_index(drop=True)
        self.settings = settings or EvaluationSettings()
        self._tables: dict[str, pd.DataFrame] = {}

    def _once(self, name: str, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        if name not in self._tables:
            self._tables[name] = compute()
        return self._tables[name]

    def per_layer(self, label: str) -> pd.DataFrame:
        """The S and R models' ``label`` measure per layer, as ``value`` with ``depth``."""
        table, column, perturbation = PAIR_MEASURES[label]
        read = {"selectivity": bridge.layer_selectivity, "dimensionality": bridge.dimensionality_by_layer,
                "gradients": bridge.unit_gradients_by_layer}[table]
        frame = self._once(table, lambda: read(self.pairs, self.settings, evaluate=False))
        if perturbation is not None:
            frame = frame[frame["perturbation"] == perturbation]
        return frame.assign(value=frame[column])

    def per_run(self, label: str) -> pd.DataFrame:
        """Each sweep run's ``label`` measure as ``value``, with ``arch``, ``seed`` and ``alpha``."""
        table, column = ALPHA_MEASURES[label]
        read = {"runs": lambda: self.sweep,
                "shape_bias": lambda: bridge.sweep_shape_bias(self.sweep, self.settings, evaluate=False),
                "distorted": lambda: bridge.sweep_distorted_accuracy(self.sweep, self.settings, evaluate=False),
                "kernel_tv": lambda: bridge.sweep_kernel_tv(self.sweep, self.settings, evaluate=False),
                "units": lambda: bridge.sweep_units(self.sweep, self.settings, evaluate=False)}[table]
        frame = self._once(table, read)
        return frame[["arch", "seed", "alpha", column]].rename(columns={column: "value"})


def _views(ex: Explorer) -> BridgeViews:
    views: BridgeViews = ex.views
    return views


def _per_layer(ex: Explorer) -> tuple[Any, Any]:
    label = ex.value("layer_measure")
    data = _views(ex).per_layer(label)
    fig, ax = figure()
    plot_layer_values(data, "value", ax)
    ax.set_xlabel("layer")
    ax.set_ylabel(label)
    return data, fig


def _against_alpha(ex: Explorer) -> tuple[Any, Any]:
    label = ex.value("alpha_measure")
    data = _views(ex).per_run(label)
    fig, ax = figure()
    means = data.groupby("alpha")["value"].mean()
    ax.plot(means.index, means.to_numpy(), marker="o", label="mean over seeds")
    ax.scatter(data["alpha"], data["value"], s=14, alpha=0.6, linewidths=0, label="one run")
    ax.set_xlabel("α (selectivity regularizer)")
    ax.set_ylabel(label)
    ax.legend(frameon=False, fontsize="x-small")
    return data, fig


def _groups(catalog: Catalog) -> dict[str, pd.DataFrame]:
    """The architectures with both their pairs and their alpha sweep trained."""
    return {label: pd.concat([catalog.pairs[label].assign(part="pairs"), sweep.assign(part="sweep")], ignore_index=True)
            for label, sweep in catalog.alpha_sweeps.items() if label in catalog.pairs}


def _options(ex: Explorer, name: str) -> list[Any]:
    if name == "layer_measure":
        return list(PAIR_MEASURES)
    if name == "alpha_measure":
        return list(ALPHA_MEASURES)
    return []


#: The bridge in the explorer: per architecture, the first paper's measures on its pairs and the
#: second paper's along its alpha sweep.
BRIDGE = StudyViews(
    name="bridge",
    rows=(("layer_measure", "alpha_measure"),),
    groups=_groups,
    views=BridgeViews,
    options=_options,
    refills={},
    panels=(
        Panel("bridge_layers", "S against R, per layer (the first paper's measures)", frozenset({"layer_measure"}),
              _per_layer),
        Panel("bridge_alpha", "Against alpha (the second paper's measures)", frozenset({"alpha_measure"}),
              _against_alpha),
    ),
)
