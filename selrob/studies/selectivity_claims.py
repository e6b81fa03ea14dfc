"""The first paper's claims (Leavitt & Morcos, ICLR 2021), each with the statistic that tests it on
a sweep's runs (:mod:`selrob.tables.claims`).

Trends are slopes against alpha across the alpha grid (the paper plots every measure against
alpha, which sets selectivity; the first claim checks that it does). "Early layers" are the first
half of the network's ReLU layers (the paper: ResNet18 layers <= 9 of 17). Dimensionality is the
PCA fraction at the 95% variance threshold (Figure 4), corruption cells averaged per layer.
Every table is read from the caches that ``make reproduce`` (or ``selrob evaluate``) fills.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from selrob.evaluations.dimensionality import DIMENSIONALITY
from selrob.evaluations.fgsm import largest_epsilon
from selrob.evaluations.gradient_masking import DIFFERENT
from selrob.evaluations.pgd import last_step
from selrob.evaluations.registry import EvaluationSettings
from selrob.store.runs import RUN_KEYS, Run
from selrob.tables.aggregates import (
    corruption_means,
    early_layer_dimensionality,
    selectivity_with_dead_units,
    with_clean_accuracy,
)
from selrob.tables.claims import Claim, PairedDifference, Trend
from selrob.tables.evaluations import evaluation_table, evaluation_tables
from selrob.tables.runs import load_pgd_training, load_sweep

KEYS = list(RUN_KEYS)
ALPHA = Trend("alpha")


class ClaimInputs:
    """The tables of one sweep the claims read, each loaded once (cached results only)."""

    def __init__(self, dataset: str = "digits", smoke: bool = False, runs_root: str | Path | None = None,
                 data_root: str | Path | None = None) -> None:
        self.dataset, self.smoke, self.runs_root = dataset, smoke, runs_root
        self.settings = EvaluationSettings(smoke=smoke, data_root=None if data_root is None else str(data_root))

    def table(self, name: str, **options: object) -> pd.DataFrame:
        """The cached evaluation ``name`` of the sweep's runs."""
        return evaluation_table(name, self.runs, self.settings, evaluate=False, progress=False, **options)

    @functools.cached_property
    def runs(self) -> pd.DataFrame:
        return load_sweep(self.dataset, smoke=self.smoke, runs_root=self.runs_root).runs

    def per_run(self, table: pd.DataFrame, column: str) -> pd.DataFrame:
        """``column`` averaged per run, as ``value``, with alpha and seed."""
        return table.groupby(KEYS, as_index=False)[column].mean().rename(columns={column: "value"})

    @functools.cached_property
    def corruption_means(self) -> pd.DataFrame:
        return corruption_means(with_clean_accuracy(self.table("corruptions"), self.runs))

    @functools.cached_property
    def fgsm(self) -> pd.DataFrame:
        return self.table("fgsm")

    @functools.cached_property
    def pgd(self) -> pd.DataFrame:
        return self.table("pgd")

    @functools.cached_property
    def masking(self) -> pd.DataFrame:
        return self.table("gradient-masking", sources=self.runs[self.runs["alpha"] == 0])

    @functools.cached_property
    def augmix(self) -> pd.DataFrame:
        return load_sweep(self.dataset, alpha=0.0, smoke=self.smoke, runs_root=self.runs_root, augmix=True).runs

    @functools.cached_property
    def pgd_training(self) -> pd.DataFrame:
        """Per run of the PGD-training sweep: selectivity of the live units (Figure A16c: PGD
        training kills units, whose SI of 0 would mask the effect) as ``value``."""
        layers = load_pgd_training(self.dataset, smoke=self.smoke, runs_root=self.runs_root).layers
        per_run = selectivity_with_dead_units(layers)
        return per_run.assign(value=per_run["mean_selectivity_alive"])

    @functools.cached_property
    def early_dimensionality(self) -> pd.DataFrame:
        """Per run and perturbation: PCA-95% dimensionality, mean over the early layers."""
        return early_layer_dimensionality(evaluation_tables(DIMENSIONALITY, self.runs, self.settings, evaluate=False,
                                                            progress=False))

    def dimensionality(self, perturbation: str) -> pd.DataFrame:
        frame = self.early_dimensionality
        return frame[frame["perturbation"] == perturbation].rename(columns={"dimensionality": "value"})

    def dimensionality_difference(self, higher: str, lower: str) -> pd.DataFrame:
        """Per run: early-layer dimensionality of ``higher`` minus that of ``lower``."""
        wide = self.early_dimensionality.pivot_table(index=KEYS, columns="perturbation", values="dimensionality")
        return (wide[higher] - wide[lower]).rename("difference").reset_index()

    @functools.cached_property
    def unit_gradients(self) -> pd.DataFrame:
        return self.table("unit-gradients")

    def images(self) -> int:
        """Images of the test set each run is evaluated on."""
        return len(Run(Path(self.runs["run_dir"].iloc[0])).test_set(self.settings.data_root))

def _accuracy_for_positive_alpha(inputs: ClaimInputs) -> pd.DataFrame:
    runs = inputs.runs[inputs.runs["alpha"] >= 0]
    return runs.assign(value=runs["test_accuracy"])


def _augmix_difference(inputs: ClaimInputs) -> pd.DataFrame:
    base = inputs.runs[inputs.runs["alpha"] == 0].set_index("seed")["mean_selectivity"]
    augmix = inputs.augmix.set_index("seed")["mean_selectivity"]
    return (augmix - base).dropna().rename("difference").reset_index()


def _fgsm_accuracy(inputs: ClaimInputs) -> pd.DataFrame:
    return inputs.per_run(largest_epsilon(inputs.fgsm), "accuracy")


def _transfer_accuracy(inputs: ClaimInputs) -> pd.DataFrame:
    table = last_step(inputs.masking)
    return inputs.per_run(table[table["relation"] == DIFFERENT], "accuracy")


def _run_column(column: str) -> Callable[[ClaimInputs], pd.DataFrame]:
    return lambda inputs: inputs.runs.assign(value=inputs.runs[column])


CLAIMS: tuple[Claim, ...] = (
    Claim("selectivity", "Mean class selectivity rises with alpha", "A2, A11a", ALPHA, +1,
          _run_column("mean_selectivity"), "selectivity index per unit alpha"),
    Claim("accuracy", "Raising selectivity (alpha > 0) lowers test accuracy", "A2", ALPHA, -1,
          _accuracy_for_positive_alpha, "accuracy per unit alpha, alpha >= 0"),
    Claim("corrupted-accuracy", "Mean corrupted accuracy falls as selectivity rises", "1b", ALPHA, -1,
          lambda inputs: inputs.corruption_means.assign(value=inputs.corruption_means["mean_corrupted_accuracy"]),
          "accuracy per unit alpha"),
    Claim("normalized-corrupted-accuracy", "Corrupted / clean accuracy falls as selectivity rises", "A3a", ALPHA, -1,
          lambda inputs: inputs.corruption_means.assign(value=inputs.corruption_means["mean_normalized_accuracy"]),
          "ratio per unit alpha"),
    Claim("augmix", "AugMix lowers class selectivity", "A11", PairedDifference(), -1, _augmix_difference,
          "AugMix minus alpha = 0, same seed"),
    Claim("fgsm", "FGSM accuracy at the largest epsilon rises with selectivity", "2a", ALPHA, +1, _fgsm_accuracy,
          "accuracy per unit alpha"),
    Claim("pgd", "PGD accuracy after the last step rises with selectivity", "2b", ALPHA, +1,
          lambda inputs: inputs.per_run(last_step(inputs.pgd), "accuracy"), "accuracy per unit alpha"),
    Claim("jacobian", "The input-output Jacobian norm falls as selectivity rises", "2c", ALPHA, -1,
          lambda inputs: inputs.per_run(inputs.table("jacobian"), "jacobian_norm"), "norm per unit alpha"),
    Claim("gradient-masking", "Masking does not explain it: accuracy on PGD examples of the alpha = 0 replicates "
          "rises with selectivity", "A14", ALPHA, +1, _transfer_accuracy, "accuracy per unit alpha"),
    Claim("pgd-training", "PGD training raises the class selectivity of live units", "A16c", Trend("pgd_steps"), +1,
          lambda inputs: inputs.pgd_training, "selectivity index (live units) per PGD step"),
    Claim("dimensionality-clean", "Early-layer dimensionality of clean representations falls as selectivity rises",
          "4a, A20, A21", ALPHA, -1, lambda inputs: inputs.dimensionality("clean"), "fraction of units per unit alpha"),
    Claim("dimensionality-corruptions", "Early-layer dimensionality of corruption differences falls as selectivity "
          "rises", "4b, A21", ALPHA, -1, lambda inputs: inputs.dimensionality("corruptions"),
          "fraction of units per unit alpha"),
    Claim("dimensionality-pgd", "Early-layer dimensionality of PGD differences falls as selectivity rises",
          "4c, A21", ALPHA, -1, lambda inputs: inputs.dimensionality("pgd"), "fraction of units per unit alpha"),
    Claim("corruptions-above-clean", "Corruption differences are higher-dimensional than clean representations",
          "4a vs 4b", PairedDifference(), +1,
          lambda inputs: inputs.dimensionality_difference("corruptions", "clean"), "fraction of units, per run"),
    Claim("worst-above-average", "Worst-case (PGD) differences are higher-dimensional than average-case ones",
          "4b vs 4c", PairedDifference(), +1,
          lambda inputs: inputs.dimensionality_difference("pgd", "corruptions"), "fraction of units, per run"),
    Claim("cv-within-units", "The variability of input-unit gradients within units (CV_u) rises with selectivity",
          "3a, A18", ALPHA, +1, lambda inputs: inputs.per_run(inputs.unit_gradients, "mean_cv_u"),
          "CV (mean over layers) per unit alpha"),
    Claim("cv-across-units", "The variability of input-unit gradients across units (CV_l) rises with selectivity",
          "3b, A18", ALPHA, +1, lambda inputs: inputs.per_run(inputs.unit_gradients, "cv_l"),
          "CV (mean over layers) per unit alpha"),
)
