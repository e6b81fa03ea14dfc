"""Network Dissection of a model's dissected layers (the second paper's section 3.3.2, Fig 4a),
cached per source with one cell per layer (layers cached already are not dissected again).

Three streamed passes over the probe set serve every layer (memory bounded by a batch): each unit's
activation range, its histogram (the top-0.5% threshold, :class:`~selrob.measures.dissection.QuantileThresholds`)
and the IoU with every concept (:class:`~selrob.measures.dissection.IoUAccumulator`). The probe set
is the dataset's (:class:`~selrob.evaluations.stimuli.ProbeSet`): the embedded world's own for
``shapes`` models, Broden for ImageNet models.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch

from selrob import paths
from selrob.data.batches import to_unit_float
from selrob.data.probe import Concepts, ImageLabels
from selrob.device import resolve_device
from selrob.evaluations.common import entry
from selrob.evaluations.registry import Evaluation, EvaluationContext, register
from selrob.evaluations.stimuli import Batches, ProbeSet, stimuli_for, without_stimuli
from selrob.measures.dissection import IoUAccumulator, QuantileThresholds, TopImages, unit_labels
from selrob.measures.units import MapRecorder
from selrob.progress import progress_bar
from selrob.store.cache import CacheEntry, missing_cells
from selrob.store.sources import ModelSource

#: Top probe images kept per unit (Figs A12-A19).
TOP_IMAGES = 49


def probe_set(dataset: str) -> ProbeSet:
    """The Network Dissection probe set of ``dataset``'s models (:mod:`selrob.evaluations.stimuli`)."""
    return stimuli_for(dataset, "Network Dissection").probe


def probe_concepts(dataset: str, context: EvaluationContext) -> Concepts:
    """The concepts of ``dataset``'s probe set."""
    return probe_set(dataset).concepts(paths.data_dir(context.data_root))


def probe_images(dataset: str, context: EvaluationContext, indices: Sequence[int],
                 count: int | None = None) -> torch.Tensor:
    """The probe images numbered ``indices`` (positions in the probe set's batches with the same
    ``count``: a smoke source's ``eval_samples``), uint8 (N, 3, H, W)."""
    return probe_set(dataset).images(paths.data_dir(context.data_root), indices, count)


def dissection_entry(source: ModelSource, context: EvaluationContext) -> CacheEntry:
    probe = probe_set(source.dataset).describe(paths.data_dir(context.data_root))
    return entry(source, "dissection", {"probe": probe, "probe_limit": source.eval_samples, "quantile": 0.995,
                                        "bins": 4096, "top": TOP_IMAGES, "layers": list(source.dissected_layers)})


@torch.no_grad()
def dissect_layers(model: torch.nn.Module, layers: Sequence[str], batches: Batches, concepts: Concepts,
                   device: torch.device, desc: str = "dissection", progress: bool = False) -> dict[str, dict[str, Any]]:
    """Per layer of ``layers``: its units' thresholds, IoU matrix (units x concepts) and top probe
    images (by maximum activation, with those maxima), from three passes of ``batches`` that
    record every layer at once."""
    recorder = MapRecorder(model, list(layers))
    bar = progress_bar(total=3, desc=desc, unit="pass", leave=False, disable=not progress)
    try:
        def maps() -> Iterator[tuple[dict[str, torch.Tensor], list[ImageLabels]]]:
            for images, labels in batches():
                model(to_unit_float(images.to(device)))
                yield recorder.maps, labels
            bar.update()

        thresholds: dict[str, QuantileThresholds] = {}
        for recorded, _ in maps():
            for layer in layers:
                if layer not in thresholds:
                    thresholds[layer] = QuantileThresholds(recorded[layer].shape[1])
                thresholds[layer].observe_range(recorded[layer])
        for recorded, _ in maps():
            for layer in layers:
                thresholds[layer].observe(recorded[layer])
        cut = {layer: estimate.thresholds() for layer, estimate in thresholds.items()}
        accumulators = {layer: IoUAccumulator(thresholds[layer].units, concepts) for layer in layers}
        top = {layer: TopImages(thresholds[layer].units, TOP_IMAGES) for layer in layers}
        for recorded, labels in maps():
            for layer in layers:
                accumulators[layer].update(recorded[layer].cpu(), cut[layer], labels)
                top[layer].update(recorded[layer])
    finally:
        bar.close()
        recorder.close()
    return {layer: {"threshold": cut[layer].tolist(), "iou": accumulators[layer].iou().tolist(),
                    "top_images": top[layer].indices.tolist(), "top_activations": top[layer].values.tolist()}
            for layer in layers}


def evaluate_dissection(source: ModelSource, context: EvaluationContext) -> dict[str, dict[str, Any]]:
    """Per dissected layer, each unit's threshold, IoU with every concept of the probe set and top
    probe images. The layers not cached yet are dissected in groups of the probe set's ``layers_per_group``
    (one set of passes over the probe set serves a group), each group cached when it is done, so
    an interrupted dissection resumes at the next group."""
    cache = dissection_entry(source, context)
    cells = cache.cells()
    todo = missing_cells(cells, source.dissected_layers)
    if todo:
        device = resolve_device(context.device)
        model = source.load_model(device).eval()
        probe, root = probe_set(source.dataset), paths.data_dir(context.data_root)
        batches, concepts = probe.batches(root, source.eval_samples), probe.concepts(root)
        size = probe.layers_per_group or len(todo)
        for start in range(0, len(todo), size):
            group = todo[start : start + size]
            cells.update(dissect_layers(model, group, batches, concepts, device, f"dissection {source.name}",
                                        context.settings.progress))
            cache.write_cells(cells)
    return {name: cells[name] for name in source.dissected_layers}


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
    unavailable=lambda dataset: without_stimuli(dataset, "Network Dissection"),
))
