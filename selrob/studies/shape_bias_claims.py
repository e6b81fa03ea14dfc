"""The second paper's claims on its standard / robust pairs (Chen, Agarwal & Nguyen, ICLR 2021
submission), each tested on the pairs trained here (:mod:`selrob.tables.claims`).

Every claim is a mean over pairs (one pair = the S and the R model of one architecture and
seed) of R minus S, with its t 95% CI: Table 1's clean and adversarial accuracies, Table 2's
shape bias (shape / (shape + texture) decisions on cue-conflict images), Table 3's accuracies on
distorted images of the pair's correctly classified subset, Table 4's mean kernel total variation,
Fig 3's rise of the first layer's activation TV under noise, Fig 4a / A10's interpretable
units per category and unit diversity by Network Dissection, and Fig 4b's texture bias of the
texture units under channel ablation. The texture bias of the standard
models (Geirhos et al. 2019, the premise of section 3.1) is their shape bias minus one half, one
row per standard model.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd

from selrob.evaluations.registry import EvaluationSettings
from selrob.tables import channel_ablation, dissection, distorted_images, smoothness
from selrob.tables.claims import Claim, PairedDifference
from selrob.tables.robust_pairs import (
    STANDARD,
    accuracy_per_run,
    load_robust_pairs,
    paired_differences,
    per_run_shape_bias,
)


class PairInputs:
    """The cached tables of one set of S / R pairs, each loaded once."""

    def __init__(self, dataset: str = "shapes", smoke: bool = False, runs_root: str | Path | None = None,
                 data_root: str | Path | None = None) -> None:
        self.dataset, self.smoke, self.runs_root = dataset, smoke, runs_root
        self.settings = EvaluationSettings(smoke=smoke, data_root=None if data_root is None else str(data_root))

    @functools.cached_property
    def runs(self) -> pd.DataFrame:
        return load_robust_pairs(self.dataset, smoke=self.smoke, runs_root=self.runs_root).runs

    @functools.cached_property
    def accuracy(self) -> pd.DataFrame:
        return accuracy_per_run(self.runs, self.settings, evaluate=False)

    @functools.cached_property
    def shape_bias(self) -> pd.DataFrame:
        return per_run_shape_bias(self.runs, self.settings, evaluate=False)

    @functools.cached_property
    def distorted(self) -> pd.DataFrame:
        return distorted_images.per_run_accuracy(distorted_images.decisions(self.runs, self.settings, evaluate=False))

    @functools.cached_property
    def kernel_tv(self) -> pd.DataFrame:
        return smoothness.per_run_kernel_tv(self.runs, self.settings, evaluate=False)

    @functools.cached_property
    def noise_sensitivity(self) -> pd.DataFrame:
        return smoothness.per_run_noise_sensitivity(smoothness.activation_tv_table(self.runs, self.settings, evaluate=False))

    @functools.cached_property
    def unit_labels(self) -> pd.DataFrame:
        return dissection.unit_table(self.runs, self.settings, evaluate=False)

    @functools.cached_property
    def units(self) -> pd.DataFrame:
        return dissection.per_run_unit_summary(self.unit_labels, dissection.probe_categories(self.runs, self.settings))

    @functools.cached_property
    def texture_unit_bias(self) -> pd.DataFrame:
        scores = channel_ablation.unit_scores(channel_ablation.ablation_table(self.runs, self.settings, evaluate=False),
                                              self.unit_labels)
        return channel_ablation.per_run_texture_unit_bias(scores)

    def pairs(self, frame: pd.DataFrame, value: str) -> pd.DataFrame:
        return paired_differences(frame, value)


def _texture_bias(inputs: PairInputs) -> pd.DataFrame:
    standard = inputs.shape_bias[inputs.shape_bias["training"] == STANDARD]
    return standard.assign(difference=standard["shape"] - 0.5)


CLAIMS = (
    Claim("clean_accuracy", "Robust models are less accurate on clean test images", "Table 1",
          PairedDifference(), -1, lambda inputs: inputs.pairs(inputs.accuracy, "clean"), "accuracy (R - S)"),
    Claim("adversarial_accuracy", "Robust models are more accurate under the L2 PGD attack", "Table 1",
          PairedDifference(), +1, lambda inputs: inputs.pairs(inputs.accuracy, "adversarial"), "accuracy (R - S)"),
    Claim("standard_texture_bias", "Standard models decide cue conflicts by texture more than by shape",
          "Sec 3.1 (Geirhos et al.)", PairedDifference(), -1, _texture_bias, "shape bias - 0.5"),
    Claim("robust_shape_bias", "Robust models are more shape-biased than standard ones", "Table 2, Sec 3.1",
          PairedDifference(), +1, lambda inputs: inputs.pairs(inputs.shape_bias, "shape"), "shape bias (R - S)"),
    Claim("corruption_accuracy", "Robust models do not generalise better to common corruptions", "Table 3c, A1",
          PairedDifference(), -1, lambda inputs: inputs.pairs(inputs.distorted, "corruptions"), "accuracy (R - S)"),
    Claim("scrambled_accuracy", "Robust models are less accurate on scrambled (shape-less) images", "Table 3d, Fig A1",
          PairedDifference(), -1, lambda inputs: inputs.pairs(inputs.distorted, "scrambled"), "accuracy (R - S)"),
    Claim("stylized_accuracy", "Robust models are more accurate on stylized (texture-replaced) images", "Table 3e",
          PairedDifference(), +1, lambda inputs: inputs.pairs(inputs.distorted, "stylized"), "accuracy (R - S)"),
    Claim("contour_accuracy", "Robust models are more accurate on B&W contour images", "Table 3f",
          PairedDifference(), +1, lambda inputs: inputs.pairs(inputs.distorted, "contour"), "accuracy (R - S)"),
    Claim("silhouette_accuracy", "Robust models are more accurate on silhouettes", "Table 3g",
          PairedDifference(), +1, lambda inputs: inputs.pairs(inputs.distorted, "silhouette"), "accuracy (R - S)"),
    Claim("kernel_smoothness", "Robust models have smoother filters (lower kernel total variation)", "Table 4, Fig A27",
          PairedDifference(), -1, lambda inputs: inputs.pairs(inputs.kernel_tv, "mean_tv"), "mean kernel TV (R - S)"),
    Claim("noise_blocking", "Noise raises the activation TV of robust models' first layer less", "Fig 3, A5",
          PairedDifference(), -1, lambda inputs: inputs.pairs(inputs.noise_sensitivity, "increase"),
          "relative TV rise (R - S)"),
    Claim("colour_units", "Robust models have more colour units", "Fig 4a, A7", PairedDifference(), +1,
          lambda inputs: inputs.pairs(inputs.units, "color"), "interpretable colour units (R - S)"),
    Claim("texture_units", "Robust models have more texture units", "Fig 4a, A7", PairedDifference(), +1,
          lambda inputs: inputs.pairs(inputs.units, "texture"), "interpretable texture units (R - S)"),
    Claim("object_units", "Robust models have fewer object (shape) units", "Fig 4a, A7", PairedDifference(), -1,
          lambda inputs: inputs.pairs(inputs.units, "object"), "interpretable object units (R - S)"),
    Claim("unit_diversity", "Robust units detect fewer concepts (lower diversity)", "Fig A10", PairedDifference(), -1,
          lambda inputs: inputs.pairs(inputs.units, "diversity"), "mean concepts with IoU >= 0.01 (R - S)"),
    Claim("texture_unit_bias", "Robust texture units are less texture-biased when ablated", "Fig 4b, Sec 3.4",
          PairedDifference(some_pairs_lack_it=True), -1,
          lambda inputs: inputs.pairs(inputs.texture_unit_bias.dropna(subset=["texture_share"]), "texture_share"),
          "texture share of texture units' flips (R - S)"),
    Claim("texture_unit_rate_bias", "Robust texture units are less texture-biased when ablated, in flip rates",
          "Fig 4b, Sec 3.4",
          PairedDifference(some_pairs_lack_it=True), -1,
          lambda inputs: inputs.pairs(inputs.texture_unit_bias.dropna(subset=["rate_share"]), "rate_share"),
          "texture share of texture units' flip rates (R - S)"),
)
