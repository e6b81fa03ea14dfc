"""The explorer's views of the first paper (study ``selectivity``): the data behind each panel for
a chosen alpha sweep, alpha (or all), seed, layer and unit, read from the cached evaluations only
(a missing one is a :class:`~selrob.errors.SelrobError` naming the command that computes it),
the panels drawn from them and the study's entry in the explorer (:data:`SELECTIVITY`).

Each table is read once per sweep and kept, so a change of control filters it instead of
reading the caches again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from selrob.evaluations.registry import EvaluationSettings
from selrob.explorer.panels import Panel, StudyViews, figure
from selrob.plotting.style import alpha_palette
from selrob.tables.evaluations import cached_result, evaluation_table, source_of

if TYPE_CHECKING:
    from selrob.explorer.app import Explorer

#: The alpha of the unregularized baseline every view compares against.
BASELINE = 0.0
#: The value of the alpha and seed controls that selects every run.
ALL = "all"


class SweepViews:
    """The views of one alpha sweep (``runs``: its rows of :func:`selrob.load_results`)."""

    def __init__(self, runs: pd.DataFrame, settings: EvaluationSettings | None = None) -> None:
        self.runs = runs.reset_index(drop=True)
        self.settings = settings or EvaluationSettings()
        self._tables: dict[str, pd.DataFrame] = {}
        self._units: dict[str, list[dict[str, Any]]] = {}

    def table(self, name: str) -> pd.DataFrame:
        """Evaluation ``name`` of every run of the sweep, from the caches (read once)."""
        if name not in self._tables:
            self._tables[name] = evaluation_table(name, self.runs, self.settings, evaluate=False, progress=False)
        return self._tables[name]

    @property
    def alphas(self) -> list[float]:
        return sorted(float(a) for a in self.runs["alpha"].unique())

    @property
    def seeds(self) -> list[int]:
        return sorted(int(s) for s in self.runs["seed"].unique())

    def layers(self) -> list[tuple[str, int]]:
        """(name, index) of every ReLU layer, as the unit-selectivity evaluation counts them."""
        table = self.table("unit-selectivity")
        names = table.drop_duplicates("layer").sort_values("layer")
        return [(f"{row.layer}: {row.layer_name}", int(row.layer)) for row in names.itertuples()]

    def units(self, layer: int) -> int:
        """How many units layer ``layer`` has."""
        table = self.table("unit-selectivity")
        return int(table.loc[table["layer"] == layer, "unit"].max()) + 1

    def _chosen(self, frame: pd.DataFrame, alpha: float | None, seed: int | None, baseline: bool = True) -> pd.DataFrame:
        """Rows of ``alpha`` (all when None; with the baseline when ``baseline``) and ``seed`` (all when None)."""
        rows = frame
        if alpha is not None:
            rows = rows[rows["alpha"].isin({alpha, BASELINE} if baseline else {alpha})]
        if seed is not None:
            rows = rows[rows["seed"] == seed]
        return rows

    def selectivity_distribution(self, alpha: float | None, seed: int | None, layer: int) -> pd.DataFrame:
        """Every unit's selectivity index in layer ``layer`` of the chosen runs and of the alpha =
        0 baseline (columns alpha, seed, unit, selectivity)."""
        table = self.table("unit-selectivity")
        rows = self._chosen(table[table["layer"] == layer], alpha, seed)
        return rows[["alpha", "seed", "unit", "selectivity"]].reset_index(drop=True)

    def run(self, alpha: float, seed: int) -> pd.Series:
        """The sweep's run of ``alpha`` and ``seed``."""
        rows = self.runs[(self.runs["alpha"] == alpha) & (self.runs["seed"] == seed)]
        return rows.iloc[0]

    def class_means(self, alpha: float | None, seed: int, layer: int, unit: int) -> pd.DataFrame:
        """The class-conditional mean activations of unit ``unit`` of layer ``layer`` in the run of
        ``seed`` and ``alpha`` (and of the baseline's run; every alpha's when None), with its
        selectivity (columns alpha, class, mean, selectivity)."""
        rows = []
        for chosen in self.alphas if alpha is None else sorted({alpha, BASELINE}):
            result = self._unit_selectivity(self.run(chosen, seed))[layer]
            for label, means in enumerate(result["class_means"]):
                rows.append({"alpha": chosen, "class": label, "mean": means[unit],
                             "selectivity": result["selectivity"][unit]})
        return pd.DataFrame(rows)

    def _unit_selectivity(self, run: pd.Series) -> list[dict[str, Any]]:
        """A run's cached unit-selectivity result (read once per run)."""
        key = str(run["run_dir"])
        if key not in self._units:
            self._units[key] = cached_result("unit-selectivity", source_of(run), self.settings, evaluate=False)
        return self._units[key]

    def attack_curves(self, seed: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """FGSM accuracy per epsilon and PGD accuracy after each step, per alpha and seed."""
        return (self._chosen(self.table("fgsm"), None, seed).reset_index(drop=True),
                self._chosen(self.table("pgd"), None, seed).reset_index(drop=True))

    def corruption_grid(self, alpha: float | None, seed: int | None) -> pd.DataFrame:
        """Accuracy per corruption (rows) and severity (columns), the mean over the chosen runs
        (``alpha`` alone, or every run when None)."""
        rows = self._chosen(self.table("corruptions"), alpha, seed, baseline=False)
        return rows.pivot_table(index="corruption", columns="severity", values="accuracy", aggfunc="mean", sort=False)

    def thresholds(self) -> list[float]:
        """The PCA variance thresholds the dimensionality cache holds."""
        table = self.table("dimensionality-clean")
        return sorted(float(t) for t in table.loc[table["measure"] == "pca", "threshold"].unique())

    def pca_dimensionality(self, seed: int | None, threshold: float) -> pd.DataFrame:
        """PCA dimensionality of the clean activations per layer and alpha at ``threshold`` of
        variance explained (one row per run and layer)."""
        table = self.table("dimensionality-clean")
        rows = table[(table["measure"] == "pca") & ((table["threshold"] - threshold).abs() < 1e-9)]
        return self._chosen(rows, None, seed)[["alpha", "seed", "layer", "dimensionality"]].reset_index(drop=True)

    def gradient_cv(self, seed: int | None) -> pd.DataFrame:
        """The mean within-unit coefficient of variation of input-unit gradients per layer and alpha."""
        return self._chosen(self.table("unit-gradients"), None, seed)[["alpha", "seed", "layer", "mean_cv_u"]]


def _sweep(ex: Explorer) -> SweepViews:
    """The views of the chosen sweep, which the panels draw."""
    views = ex.views
    assert isinstance(views, SweepViews)
    return views


def _alpha(ex: Explorer) -> float | None:
    """The chosen alpha, None for every alpha."""
    return None if ex.value("alpha") == ALL else float(ex.value("alpha"))


def _seed(ex: Explorer) -> int | None:
    """The chosen seed, None for every seed."""
    return None if ex.value("seed") == ALL else int(ex.value("seed"))


def _selectivity(ex: Explorer) -> tuple[Any, Any]:
    data = _sweep(ex).selectivity_distribution(_alpha(ex), _seed(ex), ex.value("layer"))
    fig, ax = figure()
    palette = alpha_palette(data["alpha"])
    bins = np.linspace(0, 1, 21)
    for alpha, part in data.groupby("alpha"):
        ax.hist(part["selectivity"], bins=bins, density=True, histtype="step", linewidth=1.8, color=palette[alpha],
                label=f"{alpha:g}")
    ax.set_xlabel("Class selectivity index")
    ax.set_ylabel("Density")
    ax.legend(title="α", fontsize="x-small", ncols=2)
    ax.set_title(f"layer {ex.value('layer')}, {_runs_label(ex)} (α = {BASELINE:g}: baseline)", fontsize="small")
    return data, fig


def _class_means(ex: Explorer) -> tuple[Any, Any]:
    sweep, seed = _sweep(ex), _seed(ex)
    seed = seed if seed is not None else sweep.seeds[0]
    data = sweep.class_means(_alpha(ex), seed, ex.value("layer"), ex.value("unit"))
    fig, ax = figure()
    alphas = sorted(data["alpha"].unique())
    palette, width = alpha_palette(alphas), 0.8 / len(alphas)
    for k, alpha in enumerate(alphas):
        part = data[data["alpha"] == alpha]
        ax.bar(part["class"] + (k - (len(alphas) - 1) / 2) * width, part["mean"], width, color=palette[alpha],
               label=f"{alpha:g}")
    ax.set_xticks(sorted(data["class"].unique()))
    ax.set_xlabel("Class")
    ax.set_ylabel("Mean activation")
    ax.legend(title="α", fontsize="x-small", ncols=2)
    selectivity = ", ".join(f"α {a:g}: {s:.2f}" for a, s in data.groupby("alpha")["selectivity"].first().items())
    ax.set_title(f"layer {ex.value('layer')} unit {ex.value('unit')}, seed {seed}; SI {selectivity}", fontsize="small")
    return data, fig


def _highlighted(ax: Any, frame: pd.DataFrame, x: str, y: str, chosen: float | None) -> None:
    """One line per alpha (mean over the chosen seeds); the chosen alpha drawn bold."""
    means = frame.groupby(["alpha", x], as_index=False)[y].mean()
    palette = alpha_palette(means["alpha"])
    for alpha, part in means.groupby("alpha"):
        bold = chosen is None or alpha == chosen
        ax.plot(part[x], 100 * part[y], color=palette[alpha], linewidth=2.4 if bold else 0.9,
                alpha=1.0 if bold else 0.45, label=f"{alpha:g}")
    ax.set_ylabel("Accuracy (%)")
    ax.legend(title="α", fontsize="x-small", ncols=2)


def _attacks(ex: Explorer) -> tuple[Any, Any]:
    fgsm, pgd = _sweep(ex).attack_curves(_seed(ex))
    fig, axes = figure(4.2, 3.2, columns=2)
    _highlighted(axes[0], fgsm, "epsilon", "accuracy", _alpha(ex))
    axes[0].set_xlabel("FGSM ε (L∞)")
    _highlighted(axes[1], pgd, "step", "accuracy", _alpha(ex))
    axes[1].set_xlabel("PGD step")
    fig.suptitle(f"{_runs_label(ex)}: the chosen α bold, the grid thin", fontsize="small")
    return (fgsm, pgd), fig


def _corruptions(ex: Explorer) -> tuple[Any, Any]:
    alpha = _alpha(ex)
    data = _sweep(ex).corruption_grid(alpha, _seed(ex))
    fig, ax = figure(5.0, 0.22 * len(data) + 1.0, margins=(1.4, 0.45, 0.1, 0.35))
    shown = ax.imshow(100 * data.to_numpy(), cmap="viridis", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(len(data.columns)), [str(c) for c in data.columns])
    ax.set_yticks(range(len(data)), list(data.index), fontsize="x-small")
    ax.set_xlabel("Severity")
    fig.colorbar(shown, ax=ax, label="accuracy (%)")
    ax.set_title(f"α {'all' if alpha is None else f'{alpha:g}'}, {_runs_label(ex)}", fontsize="small")
    return data, fig


def _dimensionality(ex: Explorer) -> tuple[Any, Any]:
    data = _sweep(ex).pca_dimensionality(_seed(ex), ex.value("threshold"))
    fig, ax = figure()
    _layer_lines(ax, data, "dimensionality")
    ax.set_ylabel(f"PCA dimensionality (share of units)\nfor {100 * ex.value('threshold'):g}% of the variance")
    return data, fig


def _gradients(ex: Explorer) -> tuple[Any, Any]:
    data = _sweep(ex).gradient_cv(_seed(ex))
    fig, ax = figure()
    _layer_lines(ax, data, "mean_cv_u")
    ax.set_ylabel("Mean CV of input-unit gradients")
    return data, fig


def _layer_lines(ax: Any, data: pd.DataFrame, value: str) -> None:
    """One line per alpha (mean over the chosen seeds) across layers: every alpha at once, so the
    panel need not be redrawn when another alpha is chosen."""
    means = data.groupby(["alpha", "layer"], as_index=False)[value].mean()
    palette = alpha_palette(means["alpha"])
    for alpha, part in means.groupby("alpha"):
        ax.plot(part["layer"], part[value], color=palette[alpha], marker="o", markersize=3, label=f"{alpha:g}")
    ax.set_xlabel("Layer")
    ax.legend(title="α", fontsize="x-small", ncols=2)


def _runs_label(ex: Explorer) -> str:
    seed = _seed(ex)
    return "all seeds" if seed is None else f"seed {seed}"


def _options(ex: Explorer, name: str) -> list[Any]:
    """The options of control ``name``: what the sweep's caches hold."""
    sweep = _sweep(ex)
    if name == "alpha":
        return [*(f"{a:g}" for a in sweep.alphas), ALL]
    if name == "seed":
        return [ALL, *(str(s) for s in sweep.seeds)]
    if name == "layer":
        return sweep.layers()
    if name == "unit":
        return list(range(sweep.units(ex.value("layer")))) if ex.value("layer") is not None else []
    if name == "threshold":
        return [(f"{100 * t:g}%", t) for t in sweep.thresholds()]
    return []


#: The first paper in the explorer: its alpha sweeps, controls and panels.
SELECTIVITY = StudyViews(
    name="selectivity",
    rows=(("alpha", "seed"), ("layer", "unit", "threshold")),
    groups=lambda catalog: catalog.sweeps,
    views=SweepViews,
    options=_options,
    refills={"layer": ("unit",)},
    panels=(
        Panel("selectivity", "Unit selectivity against the α = 0 baseline", frozenset({"alpha", "seed", "layer"}),
              _selectivity),
        Panel("class_means", "The unit's class-conditional mean activations",
              frozenset({"alpha", "seed", "layer", "unit"}), _class_means),
        Panel("attacks", "FGSM and PGD", frozenset({"alpha", "seed"}), _attacks),
        Panel("corruptions", "Corruption x severity", frozenset({"alpha", "seed"}), _corruptions),
        Panel("dimensionality", "PCA dimensionality per layer", frozenset({"seed", "threshold"}), _dimensionality),
        Panel("gradients", "Input-unit gradient variability per layer", frozenset({"seed"}), _gradients),
    ),
)
