"""Clean predictions per test image, cached: the clean accuracy of Table 1 (second paper) and
what the correctly classified subset of a pair is made from (:mod:`.correct_subset`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from selrob.evaluations.common import entry, per_image_batches, top1_predictions
from selrob.evaluations.registry import Evaluation, EvaluationContext, register
from selrob.store.cache import CacheEntry
from selrob.store.sources import ModelSource


def predictions_entry(source: ModelSource) -> CacheEntry:
    return entry(source, "predictions", {"images": source.eval_samples})


def evaluate_predictions(source: ModelSource, context: EvaluationContext) -> dict[str, list[int]]:
    """``{"label", "prediction"}``: each test image's class and the model's top-1 class."""

    def compute() -> dict[str, list[int]]:
        model, data, batch_size, device = per_image_batches(source, context)
        predictions = top1_predictions(model, data, batch_size, context.settings.progress, "predictions", device)
        return {"label": data.labels.tolist(), "prediction": predictions.tolist()}

    return predictions_entry(source).get_or_compute(compute)


def clean_correct(source: ModelSource, context: EvaluationContext) -> torch.Tensor:
    """Per test image: whether ``source`` classifies it right (bool, cached predictions)."""
    result = evaluate_predictions(source, context)
    return torch.tensor(result["label"]) == torch.tensor(result["prediction"])


def predictions_rows(result: dict[str, list[int]], context: EvaluationContext) -> Iterator[dict[str, Any]]:
    for image, (label, prediction) in enumerate(zip(result["label"], result["prediction"])):
        yield {"image": image, "label": label, "prediction": prediction, "correct": label == prediction}


PREDICTIONS = register(Evaluation(
    name="predictions", description="clean top-1 predictions per test image (Table 1's clean accuracy)",
    columns=("image", "label", "prediction", "correct"), value="correct", evaluate=evaluate_predictions,
    rows=predictions_rows, is_cached=lambda source, context: predictions_entry(source).exists(),
    headline_label="clean accuracy",
))
