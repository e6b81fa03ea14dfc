"""Predictions per image on every (corruption, severity) cell of a -C set: what the second
paper's Table 3c (the mean over the 15 corruptions) and Table A1 (each) count on a pair's
correctly classified subset. Cached per source and set (its fingerprint), one cell per
corruption; the accuracies it sees along the way fill the ``corruptions`` evaluation's cache.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch

from selrob.data.corrupted import SEVERITY_LEVELS
from selrob.evaluations.common import batch_size_for, entry, resumable_cells, top1_predictions
from selrob.evaluations.corruptions import (CORRUPTED_SET, cell_images, chosen_corruptions, corrupted_set, corrupted_set_params,
                                           store_corruption_accuracy)
from selrob.evaluations.registry import Evaluation, EvaluationContext, register
from selrob.store.cache import CacheEntry
from selrob.store.sources import ModelSource

#: ``{corruption: {severity: {"label": [...], "prediction": [...]}}}``
Cells = dict[str, dict[str, dict[str, list[int]]]]


def corruption_predictions_entry(source: ModelSource, context: EvaluationContext) -> CacheEntry:
    return entry(source, "corruption-predictions", {"set": corrupted_set_params(context), "images": cell_images(source)})


def evaluate_corruption_predictions(source: ModelSource, context: EvaluationContext) -> Cells:
    """Per chosen corruption and severity, each of its first :func:`cell_images` images' label and
    the model's top-1 class."""
    def compute(model: torch.nn.Module, name: str, device: torch.device) -> dict[str, dict[str, list[int]]]:
        cell = {}
        for severity in SEVERITY_LEVELS:
            labels, predictions = [], []
            for data in corrupted_set(context).cell_batches(name, severity, cell_images(source)):
                labels += data.labels.tolist()
                predictions += top1_predictions(model, data, batch_size_for(data), device=device).tolist()
            cell[str(severity)] = {"label": labels, "prediction": predictions}
        return cell

    def fill_accuracy(name: str, cell: dict[str, dict[str, list[int]]]) -> None:
        store_corruption_accuracy(source, context, {name: {
            int(severity): sum(p == y for p, y in zip(c["prediction"], c["label"])) / len(c["label"])
            for severity, c in cell.items()}})

    return resumable_cells(source, context, corruption_predictions_entry(source, context), chosen_corruptions(context),
                           compute, "corruption predictions", "corruption", fill_accuracy)


def corruption_prediction_rows(result: Mapping[str, Mapping[str, Mapping[str, list[int]]]],
                               context: EvaluationContext) -> Iterator[dict[str, Any]]:
    for name, by_severity in result.items():
        for severity, cell in by_severity.items():
            for image, (label, prediction) in enumerate(zip(cell["label"], cell["prediction"])):
                yield {"corruption": name, "severity": int(severity), "image": image, "prediction": prediction,
                       "correct": label == prediction}


CORRUPTION_PREDICTIONS = register(Evaluation(
    name="corruption-predictions", description="per image, the prediction on each corruption and severity of a -C set "
    "(Table 3c, A1)", columns=("corruption", "severity", "image", "prediction", "correct"), value="correct",
    evaluate=evaluate_corruption_predictions, rows=corruption_prediction_rows, fills=("corruptions",),
    is_cached=lambda source, context: corruption_predictions_entry(source, context).is_complete(chosen_corruptions(context)),
    headline_label="mean over corruptions, severities and images",
    parameters=(CORRUPTED_SET,),
))
