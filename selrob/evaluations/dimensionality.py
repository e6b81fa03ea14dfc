"""Representational dimensionality of a model source (section 4.4, appendix A.9; Figure 4,
A20-A22), cached per source: of the clean test activations, of PGD's difference matrices and of
every corruption cell's difference matrices (:mod:`selrob.measures.representations`).

The PGD pass also fills the source's PGD accuracy cache and the corruption pass its corruption
accuracy cache, since they see the same model outputs (declared as ``fills``). The corruption
entry holds one cell per corruption, so an interrupted evaluation resumes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pandas as pd
import torch
from selrob.progress import progress_bar

from selrob.attacks import attack_accuracy
from selrob.data.base import ImageSet
from selrob.data.corrupted import SEVERITY_LEVELS
from selrob.errors import SelrobError
from selrob.evaluations.common import entry, model_and_test_set
from selrob.evaluations.corruptions import (CORRUPTED_SET, cell_images, chosen_corruptions, corrupted_set,
                                            corrupted_set_params, store_corruption_accuracy)
from selrob.evaluations.pgd import ATTACK, attack_of, pgd_entry, pgd_generator, settings_pgd
from selrob.evaluations.registry import (Evaluation, EvaluationContext, ParameterGroup, of_type, register,
                                        register_parameters)
from selrob.measures.representations import (
    BATCH_SIZE,
    DimensionalitySettings,
    LayerDimensions,
    difference_dimensionality,
    image_batches,
    layer_activations,
    measure_layers,
)
from selrob.store.cache import CacheEntry, missing_cells
from selrob.store.sources import ModelSource

COLUMNS = ("perturbation", "corruption", "severity", "layer", "units", "measure", "threshold", "dimensionality")

#: PCA thresholds and the TwoNN fit fraction (:class:`~selrob.measures.representations.DimensionalitySettings`):
#: the paper's unless notebook 04 gives others.
DIMENSIONALITY_SETTINGS = register_parameters(ParameterGroup(
    "dimensionality", default=lambda dataset, smoke: DimensionalitySettings(),
    check=of_type(DimensionalitySettings, "dimensionality")))


def dimensionality_of(context: EvaluationContext) -> DimensionalitySettings:
    """The dimensionality settings of ``context``."""
    return context.parameter(DIMENSIONALITY_SETTINGS)


def _clean_activations(source: ModelSource, context: EvaluationContext) -> tuple[torch.nn.Module, ImageSet, list[torch.Tensor]]:
    model, clean = model_and_test_set(source, context)
    return model, clean, layer_activations(model, image_batches(clean), source.unit_layers)[0]


def layer_rows(perturbation: str, corruption: str | None, severity: int | None, layers: LayerDimensions,
               thresholds: Sequence[float]) -> Iterator[dict[str, Any]]:
    """One row per (layer, measure, threshold) of one perturbation cell."""
    cell = {"perturbation": perturbation, "corruption": corruption, "severity": severity}
    for index, layer in enumerate(layers):
        for threshold, value in zip(thresholds, layer["pca"]):
            yield {**cell, "layer": index, "units": layer["units"], "measure": "pca", "threshold": threshold,
                   "dimensionality": value}
        yield {**cell, "layer": index, "units": layer["units"], "measure": "twonn", "threshold": float("nan"),
               "dimensionality": layer["twonn"]}


def clean_entry(source: ModelSource, context: EvaluationContext) -> CacheEntry:
    return entry(source, "dimensionality-clean", dimensionality_of(context).params())


def evaluate_clean_dimensionality(source: ModelSource, context: EvaluationContext) -> LayerDimensions:
    """Figure 4a / A20a / A21a,d,g / A22a,d: dimensionality of the clean test activations."""

    def compute() -> LayerDimensions:
        return measure_layers(_clean_activations(source, context)[2], dimensionality_of(context))

    return clean_entry(source, context).get_or_compute(compute)


def pgd_dimensionality_entry(source: ModelSource, context: EvaluationContext) -> CacheEntry:
    return entry(source, "dimensionality-pgd",
                 {**dimensionality_of(context).params(), "pgd": pgd_entry(source, context).params})


def evaluate_pgd_dimensionality(source: ModelSource, context: EvaluationContext) -> LayerDimensions:
    """Figure 4c / A21c,f,i / A22c,f: dimensionality of PGD's difference matrices, the examples
    after ``attack_of(context).pgd_steps`` steps. Fills the source's PGD accuracy cache."""

    def compute() -> LayerDimensions:
        model, clean, clean_acts = _clean_activations(source, context)
        generator = pgd_generator(source.seed)
        adversarial: list[torch.Tensor] = []

        def correct(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            result = settings_pgd(model, images, labels, attack_of(context), generator, context.settings.amp)
            adversarial.append(result.adversarial)
            return result.correct

        # The same accumulation as evaluate_pgd, so the curve it caches is the one it would compute.
        curve = attack_accuracy(clean, correct, BATCH_SIZE).tolist()
        pgd_entry(source, context).get_or_compute(lambda: curve)
        return difference_dimensionality(clean_acts, layer_activations(model, adversarial, source.unit_layers)[0],
                                         dimensionality_of(context))

    return pgd_dimensionality_entry(source, context).get_or_compute(compute)


def corruption_dimensionality_entry(source: ModelSource, context: EvaluationContext) -> CacheEntry:
    return entry(source, "dimensionality-corruptions",
                 {**dimensionality_of(context).params(), "set": corrupted_set_params(context)})


def evaluate_corruption_dimensionality(source: ModelSource, context: EvaluationContext) -> dict[str, dict[int, LayerDimensions]]:
    """Figure 4b / A21b,e,h / A22b,e: ``{corruption: {severity: per-layer dimensionality}}`` of
    the difference matrices of every chosen corruption's cells (the same images as the clean
    test set, in its order; sources evaluated on fewer images use the first ones). Fills the
    source's corruption accuracy cache when that cache reads as many images of each cell."""
    chosen = chosen_corruptions(context)
    cache = corruption_dimensionality_entry(source, context)
    cells = cache.cells()
    todo = missing_cells(cells, chosen)
    if todo:
        model, clean, clean_acts = _clean_activations(source, context)
        corrupted = corrupted_set(context)
        for name in progress_bar(todo, desc=f"dimensionality {source.name}", unit="corruption",
                         disable=not context.settings.progress, leave=False):
            layers, accuracy = {}, {}
            for severity in SEVERITY_LEVELS:
                cell = corrupted.load(name, severity).head(len(clean)).to(clean.labels.device)
                if not torch.equal(cell.labels, clean.labels):
                    raise SelrobError(f"{corrupted.path} {name} severity {severity} is not the clean test set in its "
                                      "order; difference matrices need matching images")
                activations, logits = layer_activations(model, image_batches(cell), source.unit_layers)
                layers[str(severity)] = difference_dimensionality(clean_acts, activations, dimensionality_of(context))
                accuracy[severity] = int((logits.argmax(dim=1) == cell.labels).sum()) / max(len(cell), 1)
            cells[name] = layers
            cache.write_cells(cells)
            if cell_images(source) in (None, len(clean)):  # its cache holds accuracies on that many images
                store_corruption_accuracy(source, context, {name: accuracy})
    return {name: {int(s): layers for s, layers in cells[name].items()} for name in chosen}


def _thresholds(context: EvaluationContext) -> tuple[float, ...]:
    return dimensionality_of(context).thresholds


def _pca_at_the_middle_threshold(table: pd.DataFrame) -> pd.DataFrame:
    pca = table[table["measure"] == "pca"]
    thresholds = sorted(pca["threshold"].unique())
    return pca[pca["threshold"] == thresholds[len(thresholds) // 2]] if thresholds else pca


_HEADLINE = {"headline": _pca_at_the_middle_threshold,
            "headline_label": "PCA at the middle variance threshold (95% by default), mean over layers and cells"}


DIMENSIONALITY_PGD = register(Evaluation(
    name="dimensionality-pgd", description="PCA and TwoNN dimensionality of PGD difference matrices (Figure 4c, A21, A22)",
    columns=COLUMNS, value="dimensionality", evaluate=evaluate_pgd_dimensionality,
    rows=lambda layers, context: layer_rows("pgd", None, None, layers, _thresholds(context)),
    is_cached=lambda source, context: pgd_dimensionality_entry(source, context).exists(), fills=("pgd",), **_HEADLINE,
    parameters=(ATTACK, DIMENSIONALITY_SETTINGS),
))
DIMENSIONALITY_CLEAN = register(Evaluation(
    name="dimensionality-clean", description="PCA and TwoNN dimensionality of clean activations (Figure 4a, A20-A22)",
    columns=COLUMNS, value="dimensionality", evaluate=evaluate_clean_dimensionality,
    rows=lambda layers, context: layer_rows("clean", None, None, layers, _thresholds(context)),
    is_cached=lambda source, context: clean_entry(source, context).exists(), **_HEADLINE,
    parameters=(DIMENSIONALITY_SETTINGS,),
))
DIMENSIONALITY_CORRUPTIONS = register(Evaluation(
    name="dimensionality-corruptions",
    description="PCA and TwoNN dimensionality of every corruption cell's difference matrices (Figure 4b, A21, A22)",
    columns=COLUMNS, value="dimensionality", evaluate=evaluate_corruption_dimensionality,
    rows=lambda cells, context: (row for name, by_severity in cells.items() for severity, layers in sorted(by_severity.items())
                                 for row in layer_rows("corruptions", name, severity, layers, _thresholds(context))),
    is_cached=lambda source, context: corruption_dimensionality_entry(source, context).is_complete(
        chosen_corruptions(context)),
    fills=("corruptions",), **_HEADLINE,
    parameters=(DIMENSIONALITY_SETTINGS, CORRUPTED_SET),
))
#: The three dimensionality evaluations, in the order of Figure 4's panels.
DIMENSIONALITY = ("dimensionality-clean", "dimensionality-corruptions", "dimensionality-pgd")
