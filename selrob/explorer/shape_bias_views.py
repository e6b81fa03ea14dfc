"""The explorer's views of the second paper: the data behind each panel for a chosen S / R pair
architecture, model (S or R, and seed), dissected layer and unit, read from the cached
evaluations only (a missing one is a :class:`~selrob.errors.SelrobError` naming the command that
computes it). Tables are read once per architecture and kept; a unit's images once per unit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from selrob.evaluations.channel_ablation import cue_conflict_images
from selrob.evaluations.dissection import probe_concepts
from selrob.evaluations.registry import EvaluationContext, EvaluationSettings
from selrob.tables import channel_ablation, dissection, distorted_images, robust_pairs, smoothness
from selrob.tables.evaluations import cached_result, source_of

T = TypeVar("T")
#: How many of a unit's concepts the label view lists, by IoU.
TOP_CONCEPTS = 8


class PairViews:
    """The views of the S and R models of one architecture (``runs``: their rows of
    :func:`selrob.tables.robust_pairs.load_pairs`)."""

    def __init__(self, runs: pd.DataFrame, settings: EvaluationSettings | None = None) -> None:
        self.runs = robust_pairs.ordered(runs.reset_index(drop=True), ("training", "seed")).reset_index(drop=True)
        self.settings = settings or EvaluationSettings()
        self._memo: dict[tuple[Any, ...], Any] = {}

    def _once(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def models(self) -> list[tuple[str, int]]:
        """(label, row) of every model: "alexnet_small R, seed 0"."""
        return [(f"{row['model']}" + ("" if pd.isna(row.get("seed")) else f", seed {int(row['seed'])}"), index)
                for index, row in self.runs.iterrows()]

    def layers(self) -> list[str]:
        """The dissected layers, as the tables name them."""
        return [name.removeprefix("backbone.") for name in source_of(self.runs.iloc[0]).dissected_layers]

    def unit_table(self) -> pd.DataFrame:
        """Every unit's Network Dissection label, category, IoU and diversity."""
        return self._once(("units",), lambda: dissection.unit_table(self.runs, self.settings, evaluate=False))

    def scores(self) -> pd.DataFrame:
        """Every unit's Shape and Texture scores with its label."""
        return self._once(("scores",), lambda: channel_ablation.unit_scores(
            channel_ablation.ablation_table(self.runs, self.settings, evaluate=False), self.unit_table()))

    def units(self, model: int, layer: str) -> int:
        """How many units ``layer`` of ``model`` has."""
        rows = dissection.rows_of(self.unit_table(), self.runs.iloc[model])
        return int((rows["layer"] == layer).sum())

    def unit_filter(self, model: int, layer: str, unit: int) -> np.ndarray | None:
        """The unit's first-layer conv filter as a k x k x 3 uint8 image (scaled from its minimum
        to its maximum), or None for a unit of a later layer."""
        if layer != self.layers()[0]:
            return None
        filters = self._once(("filters", model), lambda: smoothness.first_layer_filters(self.runs.iloc[model]))
        return smoothness.filter_images(filters[unit : unit + 1])[0]

    def unit_label(self, model: int, layer: str, unit: int) -> tuple[pd.Series, pd.DataFrame]:
        """The unit's dissection row (label, category, IoU, interpretable, diversity) and its
        :data:`TOP_CONCEPTS` concepts of highest IoU (columns concept, category, iou)."""
        run = self.runs.iloc[model]
        rows = dissection.rows_of(self.unit_table(), run)
        row = rows[(rows["layer"] == layer) & (rows["unit"] == unit)].iloc[0]
        source = source_of(run)
        cells = self._once(("dissection", model), lambda: cached_result("dissection", source, self.settings, evaluate=False))
        iou = np.asarray(cells[dissection.dissected_layer(source, layer)]["iou"][unit], dtype=float)
        concepts = probe_concepts(source.dataset, EvaluationContext(source.dataset, self.settings))
        best = np.argsort(-iou, kind="stable")[:TOP_CONCEPTS]
        return row, pd.DataFrame({"concept": [concepts.names[k] for k in best],
                                  "category": [concepts.category[k] for k in best], "iou": iou[best]})

    def top_images(self, model: int, layer: str, unit: int) -> np.ndarray:
        """The unit's top probe images as one mosaic, dimmed outside the region it detects."""
        return self._once(("top", model, layer, unit), lambda: dissection.unit_top_images(
            self.runs.iloc[model], layer, unit, self.settings, evaluate=False))

    def ablation(self, model: int, layer: str, unit: int) -> tuple[pd.Series, dict[str, np.ndarray], dict[str, list[str]]]:
        """The unit's ablation scores (shape_score, texture_score, shape_images, texture_images)
        and the cue-conflict images whose decision it flips, by cue, with their captions."""
        run = self.runs.iloc[model]
        rows = dissection.rows_of(self.scores(), run)
        row = rows[(rows["layer"] == layer) & (rows["unit"] == unit)].iloc[0]
        dataset = source_of(run).dataset
        images = self._once(("cue-conflict",), lambda: cue_conflict_images(dataset, EvaluationContext(dataset, self.settings)))
        flipped, captions = self._once(("flipped", model, layer, unit), lambda: channel_ablation.flipped_images(
            run, layer, unit, self.settings, evaluate=False, images=images))
        return row, flipped, captions

    def model_summary(self) -> pd.DataFrame:
        """Per model: its shape bias (Table 2, mean over seeds) and Table 3's accuracies on its
        pair's correctly classified subset, one row per model."""
        def compute() -> pd.DataFrame:
            bias = robust_pairs.per_run_shape_bias(self.runs, self.settings, evaluate=False)
            means = bias.groupby("model", as_index=False, sort=False)["shape"].mean().rename(columns={"shape": "shape_bias"})
            table = distorted_images.distorted_accuracy_table(self.runs, self.settings, evaluate=False)
            values = [c for c in table.columns if c not in ("pair", "arch", "model", "training", "seeds", "images")
                      and not c.endswith(("_ci_low", "_ci_high"))]
            return means.merge(table[["model", *values]], on="model")

        return self._once(("summary",), compute)
