"""The bridge study's questions (:mod:`selrob.studies.bridge`), each with the statistic that
answers it (:mod:`selrob.tables.claims`). Neither paper asks them, and their findings pull
against each other: the first finds more selectivity with more worst-case robustness (which
predicts more selective robust models), the second finds robust units detecting simpler, more
generic features (which suggests less selective ones). So each is two-sided: the verdict names the
side the 95% CI lies on, or says the data cannot decide.

* Robust vs standard (the first paper's measures on the S / R pairs): mean paired differences R
  minus S per architecture and seed, with t 95% CIs: class selectivity (all, early and late
  layers), early-layer PCA dimensionality of clean, Gaussian-noise and PGD representations,
  input-unit gradient variability within and across units.
* Along alpha (the second paper's measures on the alpha sweep): per architecture and seed, the
  least-squares slope of the measure against alpha (:func:`selrob.tables.bridge.alpha_slopes`),
  then the mean slope over them with its t 95% CI. The first row checks, one-sided, that the
  regularizer sets selectivity on this data as the first paper reports (Figure A2).

The claims read tables only through the attributes of :class:`BridgeInputs`, so a test can hand
them constructed tables whose answers are known.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from selrob.evaluations.registry import EvaluationSettings
from selrob.tables import bridge
from selrob.tables.claims import Claim, PairedDifference
from selrob.tables.robust_pairs import load_robust_pairs, paired_differences


class BridgeInputs:
    """The cached tables of the bridge on ``dataset``: its S / R pairs' and its alpha sweep's,
    each loaded once (cached results only)."""

    def __init__(self, dataset: str = "shapes", smoke: bool = False, runs_root: str | Path | None = None,
                 data_root: str | Path | None = None) -> None:
        self.dataset, self.smoke, self.runs_root = dataset, smoke, runs_root
        self.settings = EvaluationSettings(smoke=smoke, data_root=None if data_root is None else str(data_root))

    @functools.cached_property
    def pairs(self) -> pd.DataFrame:
        return load_robust_pairs(self.dataset, smoke=self.smoke, runs_root=self.runs_root).runs

    @functools.cached_property
    def sweep(self) -> pd.DataFrame:
        return bridge.load_alpha_sweep(self.dataset, smoke=self.smoke, runs_root=self.runs_root)

    @functools.cached_property
    def pair_selectivity(self) -> pd.DataFrame:
        return bridge.per_run_selectivity(bridge.layer_selectivity(self.pairs, self.settings, evaluate=False))

    @functools.cached_property
    def pair_dimensionality(self) -> pd.DataFrame:
        return bridge.per_run_dimensionality(self.pairs, self.settings, evaluate=False)

    @functools.cached_property
    def pair_unit_gradients(self) -> pd.DataFrame:
        return bridge.per_run_unit_gradients(self.pairs, self.settings, evaluate=False)

    @functools.cached_property
    def sweep_shape_bias(self) -> pd.DataFrame:
        return bridge.sweep_shape_bias(self.sweep, self.settings, evaluate=False)

    @functools.cached_property
    def sweep_distorted(self) -> pd.DataFrame:
        return bridge.sweep_distorted_accuracy(self.sweep, self.settings, evaluate=False)

    @functools.cached_property
    def sweep_kernel_tv(self) -> pd.DataFrame:
        return bridge.sweep_kernel_tv(self.sweep, self.settings, evaluate=False)

    @functools.cached_property
    def sweep_units(self) -> pd.DataFrame:
        return bridge.sweep_units(self.sweep, self.settings, evaluate=False)


def _dimensionality(perturbation: str) -> Callable[[BridgeInputs], pd.DataFrame]:
    def data(inputs: BridgeInputs) -> pd.DataFrame:
        frame = inputs.pair_dimensionality
        return paired_differences(frame[frame["perturbation"] == perturbation], "dimensionality")
    return data


def _slopes(table: str, column: str) -> Callable[[BridgeInputs], pd.DataFrame]:
    return lambda inputs: bridge.alpha_slopes(getattr(inputs, table), column)


PAIRED = PairedDifference()
#: One slope per architecture and seed, averaged.
SLOPES = PairedDifference(y="slope", what="mean slope vs alpha", rows="(architecture, seed) slopes")
MORE_LESS = ("more", "less")
HIGHER_LOWER = ("higher", "lower")
RISES_FALLS = ("rises", "falls")

CLAIMS: tuple[Claim, ...] = (
    Claim("robust_selectivity", "Robust models are more / less class-selective than standard ones",
          "1st: Eq. 3; 2nd: Table 1 models", PAIRED, 0,
          lambda inputs: paired_differences(inputs.pair_selectivity, "mean"), "mean selectivity index (R - S)",
          MORE_LESS),
    Claim("robust_selectivity_early", "Robust models' early layers are more / less class-selective",
          "1st: Fig A11a", PAIRED, 0, lambda inputs: paired_differences(inputs.pair_selectivity, "early"),
          "selectivity index, first half of layers (R - S)", MORE_LESS),
    Claim("robust_selectivity_late", "Robust models' late layers are more / less class-selective",
          "1st: Fig A11a", PAIRED, 0, lambda inputs: paired_differences(inputs.pair_selectivity, "late"),
          "selectivity index, second half of layers (R - S)", MORE_LESS),
    Claim("robust_dimensionality_clean", "Robust models' early-layer clean representations are higher / lower "
          "dimensional", "1st: Fig 4a", PAIRED, 0, _dimensionality("clean"), "PCA-95% fraction of units (R - S)",
          HIGHER_LOWER),
    Claim("robust_dimensionality_noise", "Robust models' early-layer Gaussian-noise differences are higher / lower "
          "dimensional", "1st: Fig 4b", PAIRED, 0, _dimensionality("noise"), "PCA-95% fraction of units (R - S)",
          HIGHER_LOWER),
    Claim("robust_dimensionality_pgd", "Robust models' early-layer PGD differences are higher / lower dimensional",
          "1st: Fig 4c", PAIRED, 0, _dimensionality("pgd"), "PCA-95% fraction of units (R - S)", HIGHER_LOWER),
    Claim("robust_cv_within_units", "Input-unit gradients vary more / less within robust models' units",
          "1st: Fig 3a", PAIRED, 0, lambda inputs: paired_differences(inputs.pair_unit_gradients, "mean_cv_u"),
          "CV_u, mean over layers (R - S)", MORE_LESS),
    Claim("robust_cv_across_units", "Input-unit gradients vary more / less across robust models' units",
          "1st: Fig 3b", PAIRED, 0, lambda inputs: paired_differences(inputs.pair_unit_gradients, "cv_l"),
          "CV_l, mean over layers (R - S)", MORE_LESS),
    Claim("alpha_selectivity", "The regularizer works here: class selectivity rises with alpha", "1st: Fig A2",
          SLOPES, +1, lambda inputs: bridge.alpha_slopes(inputs.sweep, "mean_selectivity"),
          "selectivity index per unit alpha"),
    Claim("alpha_shape_bias", "Cue-conflict shape bias rises / falls with alpha", "2nd: Table 2", SLOPES, 0,
          _slopes("sweep_shape_bias", "shape"), "shape bias per unit alpha", RISES_FALLS),
    Claim("alpha_stylized", "Accuracy on stylized images rises / falls with alpha", "2nd: Table 3e", SLOPES, 0,
          _slopes("sweep_distorted", "stylized"), "accuracy per unit alpha", RISES_FALLS),
    Claim("alpha_contour", "Accuracy on B&W contour images rises / falls with alpha", "2nd: Table 3f", SLOPES, 0,
          _slopes("sweep_distorted", "contour"), "accuracy per unit alpha", RISES_FALLS),
    Claim("alpha_silhouette", "Accuracy on silhouettes rises / falls with alpha", "2nd: Table 3g", SLOPES, 0,
          _slopes("sweep_distorted", "silhouette"), "accuracy per unit alpha", RISES_FALLS),
    Claim("alpha_kernel_tv", "Kernel total variation (filter roughness) rises / falls with alpha", "2nd: Table 4",
          SLOPES, 0, _slopes("sweep_kernel_tv", "mean_tv"), "mean kernel TV per unit alpha", RISES_FALLS),
    Claim("alpha_texture_units", "Interpretable texture units rise / fall with alpha", "2nd: Fig 4a", SLOPES, 0,
          _slopes("sweep_units", "texture"), "units per unit alpha", RISES_FALLS),
    Claim("alpha_object_units", "Interpretable object (shape) units rise / fall with alpha", "2nd: Fig 4a", SLOPES,
          0, _slopes("sweep_units", "object"), "units per unit alpha", RISES_FALLS),
    Claim("alpha_colour_units", "Interpretable colour units rise / fall with alpha", "2nd: Fig 4a", SLOPES, 0,
          _slopes("sweep_units", "color"), "units per unit alpha", RISES_FALLS),
)
