"""Predictions on the distorted test sets of the second paper's Table 3 (d-g), per test image,
cached per source with one cell per image type (an interrupted evaluation resumes;
:mod:`selrob.distortions.image_types`).

On the embedded world: scrambled, stylized, B&W contour and silhouette images, top-1 classes. On
ImageNet: scrambled and contour images (top-1 of the 1000 classes), and silhouettes of the images
of the 16 categories, scored as the paper does: right when the top-1 class is one of the true
category's ImageNet classes (:mod:`selrob.measures.human_categories`); ImageNet's stylized images
are a set of their own (:mod:`.stylized_sixteen`).

Table 3 counts only the images of a pair's correctly classified subset
(:mod:`selrob.tables.distorted_images`); here every test image is evaluated (the smoke runs' and
the zoo's ``eval_samples`` first ones), so one cache serves every pair a model belongs to.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch

from selrob.distortions.image_types import distorted_batches, image_types, manifest, without_recipe
from selrob.distortions.segmentation import sixteen_class_images
from selrob.evaluations.common import (
    batch_size_for,
    entry,
    resumable_cells,
    sixteen_class_top1,
    top1_predictions,
)
from selrob.evaluations.registry import Evaluation, EvaluationContext, register
from selrob.evaluations.stimuli import stimuli_for
from selrob.measures.human_categories import IMAGENET_INDICES
from selrob.store.cache import CacheEntry
from selrob.store.sources import ModelSource

#: ``{image type: {"image": [...], "label": [...], "prediction": [...]}}``
Cells = dict[str, dict[str, list[int]]]

def distorted_entry(source: ModelSource) -> CacheEntry:
    return entry(source, "distorted-images", {"sets": manifest(source.dataset), "images": source.eval_samples,
                                              "scored": "top-1; ImageNet silhouettes: its category"})


def _sixteen_classes(source: ModelSource, image_type: str) -> bool:
    """Whether ``image_type`` is scored in the 16 categories (ImageNet's silhouettes)."""
    return image_type in stimuli_for(source.dataset, "distorted-image decisions").sixteen_class_types


def evaluate_distorted_images(source: ModelSource, context: EvaluationContext) -> Cells:
    """Per image type, the test images it covers, their labels and the model's top-1 classes (for
    ImageNet's silhouettes: the 16 categories of both, -1 for a top-1 class in none)."""

    def compute(model: torch.nn.Module, image_type: str, device: torch.device) -> dict[str, list[int]]:
        clean = source.test_set(context.data_root)
        positions = list(range(len(clean)))
        categories = None
        if _sixteen_classes(source, image_type):
            categories = sixteen_class_images(clean.labels, IMAGENET_INDICES)
            positions = (categories >= 0).nonzero().flatten().tolist()
        cell: dict[str, list[int]] = {"image": [], "label": [], "prediction": []}
        batches = distorted_batches(source.dataset, image_type, clean, positions, context.data_root, device,
                                    progress=context.settings.progress)
        for members, data in batches:
            size = batch_size_for(data)
            if categories is None:
                labels, predictions = data.labels, top1_predictions(model, data, size, device=device)
            else:
                labels = categories[torch.as_tensor(members)]
                predictions = sixteen_class_top1(model, data, size, device)
            cell["image"] += members
            cell["label"] += labels.tolist()
            cell["prediction"] += predictions.tolist()
        return cell

    with torch.no_grad():
        return resumable_cells(source, context, distorted_entry(source), image_types(source.dataset), compute,
                               "distorted images", "type")


def distorted_rows(result: Mapping[str, Mapping[str, list[int]]], context: EvaluationContext) -> Iterator[dict[str, Any]]:
    for image_type, cell in result.items():
        for image, label, prediction in zip(cell["image"], cell["label"], cell["prediction"]):
            yield {"image_type": image_type, "image": image, "prediction": prediction, "correct": label == prediction}


DISTORTED_IMAGES = register(Evaluation(
    name="distorted-images", description="per test image, the prediction on its scrambled, stylized, contour and "
    "silhouette versions (Table 3d-g)", columns=("image_type", "image", "prediction", "correct"), value="correct",
    evaluate=evaluate_distorted_images, rows=distorted_rows,
    is_cached=lambda source, context: distorted_entry(source).is_complete(image_types(source.dataset)),
    headline_label="accuracy over the image types", unavailable=without_recipe,
))
