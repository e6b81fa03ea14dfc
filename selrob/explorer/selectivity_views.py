"""The explorer's views of the first paper: the data behind each panel for a chosen alpha sweep,
alpha (or all), seed, layer and unit, read from the cached evaluations only (a missing one is a
:class:`~selrob.errors.SelrobError` naming the command that computes it).

Each table is read once per sweep and kept, so a change of control filters it instead of
reading the caches again.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from selrob.evaluations.registry import EvaluationSettings
from selrob.tables.evaluations import cached_result, evaluation_table, source_of

#: The alpha of the unregularized baseline every view compares against.
BASELINE = 0.0


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
