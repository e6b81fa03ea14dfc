"""Aggregation formulas over tidy tables: per-run means and derived columns the figures plot."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from selrob.store.runs import RUN_KEYS

KEYS = list(RUN_KEYS)


def with_clean_accuracy(table: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Corruption rows with the run's ``clean_accuracy`` (its test accuracy) and
    ``normalized_accuracy`` = accuracy / clean accuracy per cell (Figure A3a)."""
    clean = runs[KEYS + ["test_accuracy"]].rename(columns={"test_accuracy": "clean_accuracy"})
    merged = table.merge(clean, on=KEYS, how="left")
    return merged.assign(normalized_accuracy=(merged["accuracy"] / merged["clean_accuracy"])
                         .where(merged["clean_accuracy"] > 0))


def corruption_means(table: pd.DataFrame) -> pd.DataFrame:
    """Per run: ``mean_corrupted_accuracy`` and ``mean_normalized_accuracy`` over all cells of a
    :func:`with_clean_accuracy` table (RobustBench's mean; AugMix's mean of per-corruption means
    is the same number when every cell has as many images), plus ``clean_accuracy``."""
    grouped = table.groupby(KEYS, as_index=False)
    return grouped.agg(
        mean_corrupted_accuracy=("accuracy", "mean"),
        mean_normalized_accuracy=("normalized_accuracy", "mean"),
        clean_accuracy=("clean_accuracy", "first"),
    )


def label_models(runs: pd.DataFrame, augmix: pd.DataFrame) -> pd.DataFrame:
    """Runs of an alpha grid and AugMix runs in one table with a ``model`` column: the alpha as
    text (``-0.4``) or ``AugMix`` (Figure A11's x axis)."""
    return pd.concat([runs.assign(model=runs["alpha"].map(lambda a: f"{a:g}")), augmix.assign(model="AugMix")],
                     ignore_index=True)


def selectivity_with_dead_units(layers: pd.DataFrame, by: Sequence[str] = ("pgd_steps",)) -> pd.DataFrame:
    """Figure A16 per run: ``mean_selectivity`` (Eq. 3, dead units count as SI 0),
    ``dead_fraction`` (dead units / units) and ``mean_selectivity_alive`` (Eq. 3 over the units
    that are not dead; a layer with no live unit is left out). ``by`` are extra columns kept."""
    alive = layers["units"] - layers["dead_units"]
    per_layer = layers.assign(
        alive_selectivity=(layers["selectivity"] * layers["units"] / alive).where(alive > 0),
    )
    return per_layer.groupby([*KEYS, *by], as_index=False).agg(
        mean_selectivity=("selectivity", "mean"),
        mean_selectivity_alive=("alive_selectivity", "mean"),
        dead_units=("dead_units", "sum"),
        units=("units", "sum"),
    ).assign(dead_fraction=lambda frame: frame["dead_units"] / frame["units"])


def mean_over_corruptions(table: pd.DataFrame, keys: Sequence[str] = KEYS) -> pd.DataFrame:
    """Dimensionality rows with the corruption cells of each (run, layer, measure, threshold)
    averaged into one (Figure 4b plots that mean); other perturbations pass through. NaN TwoNN
    values (an unchanged layer) are left out of the mean. ``keys`` name a run."""
    keys = [*keys, "perturbation", "layer", "units", "measure", "threshold"]
    corrupted = table[table["perturbation"] == "corruptions"]
    means = corrupted.groupby(keys, as_index=False, dropna=False)["dimensionality"].mean()
    return pd.concat([table[table["perturbation"] != "corruptions"].drop(columns=["corruption", "severity"]), means],
                     ignore_index=True)[keys + ["dimensionality"]]


#: Figure 4's variance threshold: the PCA dimensionality the claims compare.
FIGURE_4_THRESHOLD = 0.95


def early_layer_dimensionality(table: pd.DataFrame, keys: Sequence[str] = KEYS) -> pd.DataFrame:
    """Per run (named by ``keys``) and perturbation: the PCA dimensionality at Figure 4's 95%
    threshold, corruption cells averaged (:func:`mean_over_corruptions`), mean over the run's
    early layers: the first half of the layers measured (the paper: ResNet18 layers <= 9 of 17)."""
    keys = list(keys)
    table = mean_over_corruptions(table, keys)
    pca = table[(table["measure"] == "pca") & ((table["threshold"] - FIGURE_4_THRESHOLD).abs() < 1e-9)]
    layers = pca.groupby(keys)["layer"].transform("max") + 1
    early = pca[pca["layer"] < layers / 2]
    return early.groupby([*keys, "perturbation"], as_index=False)["dimensionality"].mean()
