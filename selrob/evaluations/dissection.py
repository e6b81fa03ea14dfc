"""Network Dissection of a model's dissected layers (the second paper's section 3.3.2, Fig 4a),
cached per source with one cell per layer (an interrupted dissection resumes at the next layer).

Per layer, three streamed passes over the probe set (memory bounded by a batch): each unit's
activation range, its histogram (the top-0.5% threshold, :class:`~selrob.measures.dissection.QuantileThresholds`)
and the IoU with every concept (:class:`~selrob.measures.dissection.IoUAccumulator`). Probe sets:
the embedded world's own (:func:`selrob.data.shape_texture.probe_set`, 500 images) for ``shapes``
models; Broden (``broden1_224``, :mod:`selrob.data.broden`) for ImageNet models.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from selrob import paths
from selrob.data.batches import to_unit_float
from selrob.data.probe import Concepts, ImageLabels
from selrob.errors import SelrobError
from selrob.evaluations.common import entry, resumable_cells
from selrob.evaluations.registry import Evaluation, EvaluationContext, register
from selrob.measures.dissection import IoUAccumulator, QuantileThresholds, unit_labels
from selrob.measures.units import MapRecorder
from selrob.store.cache import CacheEntry
from selrob.store.sources import ModelSource

#: The world's probe images, and images per forward pass.
WORLD_PROBE_IMAGES = 500
BATCH = 64
#: Probe batches: a function returning a fresh iterator of (uint8 images, their labels).
Batches = Callable[[], Iterator[tuple[torch.Tensor, list[ImageLabels]]]]


def _broden_folder(context: EvaluationContext) -> Path:
    from selrob.data import broden

    root = paths.data_dir(context.data_root)
    if (reason := broden.unavailable_reason(root)) is not None:
        raise SelrobError(reason)
    return root / broden.FOLDERS[broden.DEFAULT_VARIANT]


def _check_dataset(dataset: str) -> str:
    if dataset not in ("shapes", "imagenet"):
        raise SelrobError(f"no probe set for {dataset} models; Network Dissection probes shapes and imagenet models")
    return dataset


def probe_concepts(dataset: str, context: EvaluationContext) -> Concepts:
    """The concepts of ``dataset``'s probe set."""
    if _check_dataset(dataset) == "shapes":
        from selrob.data.shape_texture import PROBE_CONCEPTS

        return PROBE_CONCEPTS
    from selrob.data import broden

    return broden.read_labels(_broden_folder(context)).concepts()


def probe_batches(dataset: str, context: EvaluationContext) -> Batches:
    """The probe set of ``dataset`` in batches of (uint8 images, their labels)."""
    if _check_dataset(dataset) == "shapes":
        from selrob.data.shape_texture import probe_set

        data, labels, _ = probe_set(WORLD_PROBE_IMAGES)
        images = torch.from_numpy(data.images)

        def world() -> Iterator[tuple[torch.Tensor, list[ImageLabels]]]:
            for start in range(0, len(labels), BATCH):
                yield images[start : start + BATCH], labels[start : start + BATCH]

        return world
    from selrob.data import broden

    folder = _broden_folder(context)
    index = broden.read_index(folder)

    def broden_batches() -> Iterator[tuple[torch.Tensor, list[ImageLabels]]]:
        for start in range(0, len(index), BATCH):
            chosen = index[start : start + BATCH]
            images = np.stack([broden.load_image(folder, image, 224) for image in chosen])
            yield torch.from_numpy(images), [broden.image_labels(folder, image) for image in chosen]

    return broden_batches


def dissection_entry(source: ModelSource, context: EvaluationContext) -> CacheEntry:
    probe = (f"shape-texture world, {WORLD_PROBE_IMAGES} images" if _check_dataset(source.dataset) == "shapes"
             else f"Broden {_broden_folder(context).name}")
    return entry(source, "dissection", {"probe": probe, "quantile": 0.995, "bins": 4096,
                                        "layers": list(source.dissected_layers)})


@torch.no_grad()
def dissect_layer(model: torch.nn.Module, layer: str, batches: Batches, concepts: Concepts,
                  device: torch.device) -> dict[str, Any]:
    """One layer's thresholds and IoU matrix (units x concepts) over three passes of ``batches``."""
    recorder = MapRecorder(model, [layer])
    try:
        def maps() -> Iterator[tuple[torch.Tensor, list[ImageLabels]]]:
            for images, labels in batches():
                model(to_unit_float(images.to(device)))
                yield recorder.maps[layer], labels

        first, _ = next(maps())
        thresholds = QuantileThresholds(first.shape[1])
        for activations, _ in maps():
            thresholds.observe_range(activations)
        for activations, _ in maps():
            thresholds.observe(activations)
        cut = thresholds.thresholds()
        accumulator = IoUAccumulator(first.shape[1], concepts)
        for activations, labels in maps():
            accumulator.update(activations.cpu(), cut, labels)
    finally:
        recorder.close()
    return {"threshold": cut.tolist(), "iou": accumulator.iou().tolist()}


def evaluate_dissection(source: ModelSource, context: EvaluationContext) -> dict[str, dict[str, Any]]:
    """Per dissected layer, each unit's threshold and IoU with every concept of the probe set."""
    concepts, batches = probe_concepts(source.dataset, context), probe_batches(source.dataset, context)

    def compute(model: torch.nn.Module, layer: str, device: torch.device) -> dict[str, Any]:
        return dissect_layer(model.eval(), layer, batches, concepts, device)

    return resumable_cells(source, context, dissection_entry(source, context), source.dissected_layers, compute,
                           "dissection", "layer")


def dissection_rows(result: Mapping[str, Mapping[str, Any]], context: EvaluationContext) -> Iterator[dict[str, Any]]:
    concepts = probe_concepts(context.dataset, context)
    for depth, (layer, cell) in enumerate(result.items(), start=1):
        table = unit_labels(torch.tensor(cell["iou"]), concepts, layer.removeprefix("backbone."))
        yield from table.assign(depth=depth).to_dict("records")


DISSECTION = register(Evaluation(
    name="dissection", description="Network Dissection: each unit's best concept, its IoU, interpretability and "
    "diversity on the probe set (Fig 4a)", columns=("layer", "unit", "label", "category", "iou", "interpretable",
                                                     "diversity", "depth"), value="interpretable",
    evaluate=evaluate_dissection, rows=dissection_rows,
    is_cached=lambda source, context: dissection_entry(source, context).is_complete(source.dissected_layers),
    headline_label="share of interpretable units (IoU >= 0.04)",
))
