"""Predictions on the distorted test sets of the second paper's Table 3 (d-g): scrambled,
stylized, B&W contour and silhouette images (:mod:`selrob.distortions.image_types`), per test
image, cached per source with one cell per image type (an interrupted evaluation resumes).

Table 3 counts only the images of a pair's correctly classified subset
(:mod:`selrob.tables.distorted_images`); here every test image is evaluated, so one cache serves
every pair a model belongs to.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch

from selrob.distortions.image_types import IMAGE_TYPES, distorted_set, manifest
from selrob.evaluations.common import entry, resumable_cells, top1_predictions
from selrob.evaluations.registry import Evaluation, EvaluationContext, register
from selrob.store.cache import CacheEntry
from selrob.store.sources import ModelSource

#: ``{image type: {"label": [...], "prediction": [...]}}``
Cells = dict[str, dict[str, list[int]]]


def distorted_entry(source: ModelSource) -> CacheEntry:
    return entry(source, "distorted-images", {"sets": manifest(source.dataset), "images": source.eval_samples})


def evaluate_distorted_images(source: ModelSource, context: EvaluationContext) -> Cells:
    """Per image type, each test image's label and the model's top-1 class on its distorted version."""
    def compute(model: torch.nn.Module, image_type: str, device: torch.device) -> dict[str, list[int]]:
        data = distorted_set(source.dataset, image_type, context.data_root).head(source.eval_samples)
        return {"label": data.labels.tolist(), "prediction": top1_predictions(model, data, device=device).tolist()}

    return resumable_cells(source, context, distorted_entry(source), IMAGE_TYPES, compute, "distorted images", "type")


def distorted_rows(result: Mapping[str, Mapping[str, list[int]]], context: EvaluationContext) -> Iterator[dict[str, Any]]:
    for image_type, cell in result.items():
        for image, (label, prediction) in enumerate(zip(cell["label"], cell["prediction"])):
            yield {"image_type": image_type, "image": image, "prediction": prediction, "correct": label == prediction}


DISTORTED_IMAGES = register(Evaluation(
    name="distorted-images", description="per test image, the prediction on its scrambled, stylized, contour and "
    "silhouette versions (Table 3d-g)", columns=("image_type", "image", "prediction", "correct"), value="correct",
    evaluate=evaluate_distorted_images, rows=distorted_rows,
    is_cached=lambda source, context: distorted_entry(source).is_complete(IMAGE_TYPES),
    headline_label="accuracy over the image types",
))
