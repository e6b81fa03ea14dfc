"""Decisions of ImageNet models on model-vs-human's 16-class stylized images (the second paper's
Table 3e on ImageNet: ImageNet validation images re-textured by AdaIN style transfer,
:mod:`selrob.data.stylized_sixteen`), cached per source: per image its file, the validation image
it was made from, its category and the category of the model's top-1 class (the paper's rule:
right when the top-1 class is one of the category's ImageNet classes).

The paper stylizes every ImageNet-CL image itself; this ready set (800 images, no style-transfer
weights needed) is a substitute. Each of its images names its source validation image, so Table 3
counts the stylized images whose source is in a pair's correctly classified subset.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from selrob import paths
from selrob.data import stylized_sixteen
from selrob.data.base import ImageSet
from selrob.data.cue_conflict_stimuli import CATEGORIES
from selrob.device import resolve_device
from selrob.errors import SelrobError
from selrob.evaluations.common import batch_size_for, entry, sixteen_class_top1
from selrob.evaluations.stimuli import every_stimuli
from selrob.evaluations.registry import Evaluation, EvaluationContext, register
from selrob.io import short_hash
from selrob.store.cache import CacheEntry
from selrob.store.sources import ModelSource

NAME = "stylized-sixteen"


def _fingerprint(context: EvaluationContext) -> str:
    """The downloaded archive's SHA-256, or for a set unpacked by hand its files' names and sizes."""
    root = paths.data_dir(context.data_root)
    record = stylized_sixteen.read_record(root)
    if record is not None:
        return str(record["sha256"])
    folder = root / stylized_sixteen.FOLDER
    return short_hash(repr(sorted((p.name, p.stat().st_size) for p in folder.rglob("*.png"))))


def _entry(source: ModelSource, context: EvaluationContext) -> CacheEntry:
    return entry(source, NAME, {"set": "model-vs-human stylized", "fingerprint": _fingerprint(context),
                                "scored": "top-1 in the category's classes"})


def _without_stylized(dataset: str) -> str | None:
    stimuli = every_stimuli().get(dataset)
    if stimuli is None or NAME not in stimuli.table3_evaluations:
        return f"the 16-class stylized images are for ImageNet models, not {dataset}"
    return None


def evaluate_stylized_sixteen(source: ModelSource, context: EvaluationContext) -> dict[str, list[Any]]:
    """``{"file", "image", "category", "decision"}`` per stylized image: ``image`` is its source's
    validation position (-1 when its name gives none), categories are indices into
    :data:`~selrob.data.cue_conflict_stimuli.CATEGORIES` (-1: a top-1 class in none)."""
    if (reason := _without_stylized(source.dataset)) is not None:
        raise SelrobError(reason)

    def compute() -> dict[str, list[Any]]:
        device = resolve_device(context.device)
        data = stylized_sixteen.load_stylized(paths.data_dir(context.data_root), progress=context.settings.progress)
        images = ImageSet(data.images, torch.tensor([CATEGORIES.index(c) for c in data.categories]))
        decisions = sixteen_class_top1(source.load_model(device), images, batch_size_for(images), device)
        positions = [stylized_sixteen.validation_position(file) for file in data.files]
        return {"file": list(data.files), "image": [-1 if p is None else p for p in positions],
                "category": images.labels.tolist(), "decision": decisions.tolist()}

    return _entry(source, context).get_or_compute(compute)


def stylized_rows(result: dict[str, list[Any]], context: EvaluationContext) -> Iterator[dict[str, Any]]:
    for file, image, category, decision in zip(result["file"], result["image"], result["category"], result["decision"]):
        yield {"file": file, "image": image, "category": CATEGORIES[category],
               "decision": CATEGORIES[decision] if decision >= 0 else "none", "correct": category == decision}


STYLIZED_SIXTEEN = register(Evaluation(
    name=NAME, description="ImageNet models on model-vs-human's stylized images, scored by category (Table 3e)",
    columns=("file", "image", "category", "decision", "correct"), value="correct", evaluate=evaluate_stylized_sixteen,
    rows=stylized_rows, is_cached=lambda source, context: _entry(source, context).exists(),
    headline_label="accuracy on the stylized images (top-1 in the true category)", unavailable=_without_stylized,
))
