"""The second paper's claims on its standard / robust pairs (Chen, Agarwal & Nguyen, ICLR 2021
submission), each tested on the pairs trained here (:mod:`selrob.tables.claims`).

Every claim is a mean over pairs (one pair = the S and the R model of one architecture and
seed) of R minus S, with its t 95% CI: Table 1's clean and adversarial accuracies, Table 2's
shape bias (shape / (shape + texture) decisions on cue-conflict images). The texture bias of
the standard models (Geirhos et al. 2019, the premise of section 3.1) is their shape bias minus
one half, one row per standard model.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd

from selrob.evaluations.registry import EvaluationSettings
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
)
