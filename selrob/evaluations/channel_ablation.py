"""Channel ablation of a model's dissected layers (the second paper's section 3.4, Figs 4b and 5):
every channel zeroed in turn, with its Shape and Texture scores on cue-conflict images, cached per
source with one cell per layer (an interrupted run resumes at the next layer).

Images: the dataset's cue-conflict images with its decision rule (:mod:`selrob.evaluations.stimuli`):
the embedded world's 900, decided by the top-1 class, for ``shapes`` models; Geirhos et al.'s
1,200 conflict stimuli (in the cue-conflict preprocessing) for ImageNet models, decided among the
16 categories, so that a decision "changes" when the 16-category decision does. Only the images the
intact model decides by shape or by texture are ablated (the others count for neither score); at
most :func:`ablated_images` of them, evenly spread over the set.

A layer's cell (:func:`ablate_layer`)::

    {"decision": [N ints],        # the intact model's decision on every image of the set
     "shape_images": int,         # images it decides by shape
     "texture_images": int,       # images it decides by texture
     "shape_score": [C ints],     # per channel, Fig 4b's Shape score
     "texture_score": [C ints],   # per channel, the Texture score
     "flipped": [[ints], ...]}    # per channel, the images (indices into the set) whose decision changes

The cache is keyed by the images (the key of the cue-conflict evaluation of the same images) and
the layers; rows are one per (layer, unit).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch

from selrob import paths
from selrob.attacks import per_image
from selrob.evaluations.cue_conflict import PREPROCESSING_CHOICE, preprocessing_of
from selrob.evaluations.common import batch_size_for, entry, resumable_cells
from selrob.evaluations.registry import Evaluation, EvaluationContext, register
from selrob.evaluations.stimuli import CueConflictImages, stimuli_for, without_stimuli
from selrob.measures.ablation import changed_images, channel_ablation, layer_channels, shape_texture_scores
from selrob.store.cache import CacheEntry
from selrob.store.sources import ModelSource

NAME = "channel-ablation"
#: Decided images ablated per model, by dataset (others: all of them): 200 of the world's 900 conflict images
#: keep its studies within the 2-core time budget (ablation was the largest evaluation of its models).
ABLATED_IMAGES: dict[str, int] = {"shapes": 200}
#: Decided images ablated per model with ``smoke`` settings: the code path, not the statistic.
SMOKE_ABLATED_IMAGES = 50


def ablated_images(source: ModelSource, context: EvaluationContext) -> int | None:
    """At most how many decided images are ablated for ``source`` (``None``: all): its
    ``eval_samples`` (smoke runs), its dataset's :data:`ABLATED_IMAGES` and, with smoke settings,
    :data:`SMOKE_ABLATED_IMAGES`, the fewest."""
    limits = (source.eval_samples, ABLATED_IMAGES.get(source.dataset), SMOKE_ABLATED_IMAGES if context.settings.smoke else None)
    return min((n for n in limits if n is not None), default=None)


def images_key(source: ModelSource, context: EvaluationContext) -> dict[str, Any]:
    """What determines the images and their decision rule (the key of the dataset's cue-conflict set)."""
    return stimuli_for(source.dataset, "channel ablation").cue_conflict.key(preprocessing_of(context))


def cue_conflict_images(dataset: str, context: EvaluationContext) -> CueConflictImages:
    """The cue-conflict images of ``dataset``'s models with their decision rule; for ImageNet,
    Geirhos et al.'s stimuli, or one line saying how to get them when they are missing."""
    cue_conflict = stimuli_for(dataset, "channel ablation").cue_conflict
    return cue_conflict.images(paths.data_dir(context.data_root), preprocessing_of(context),
                               context.settings.progress)


def channel_ablation_entry(source: ModelSource, context: EvaluationContext) -> CacheEntry:
    return entry(source, NAME, {"images": images_key(source, context), "limit": ablated_images(source, context), "flips": "same-pass",
                                "layers": list(source.dissected_layers)})


@torch.no_grad()
def intact_decisions(model: torch.nn.Module, images: CueConflictImages, device: torch.device) -> torch.Tensor:
    """The intact model's decision on every image, batch by batch (int64, on the CPU)."""
    return per_image(images.data, lambda x, y: images.decide(model(x)), batch_size_for(images.data), device=device)


def ablate_layer(model: torch.nn.Module, layer: str, images: CueConflictImages, decision: torch.Tensor,
                 device: torch.device, progress: bool = False, limit: int | None = None) -> dict[str, Any]:
    """One layer's cell (see the module's docstring), given the intact model's ``decision`` on
    every image: only the conflict images it decides by shape or texture are run (at most
    ``limit`` of them, evenly spread over the set, :func:`ablated_images`)."""
    shapes, textures = images.data.labels, images.textures
    decided = images.conflict & ((decision == shapes) | (decision == textures))
    if limit is not None and int(decided.sum()) > limit:
        kept = torch.nonzero(decided).flatten()
        decided = torch.zeros_like(decided)
        decided[kept[torch.linspace(0, len(kept) - 1, limit).round().long()]] = True
    by_shape, by_texture = decided & (decision == shapes), decided & (decision == textures)
    run = torch.nonzero(decided).flatten()
    if len(run):
        ablated, reference = channel_ablation(model, layer, images.data.images[run], images.decide, device,
                                              progress=progress, desc=f"ablating {layer}")
    else:  # no image decided by a cue: nothing flips, but every channel still has its (zero) scores
        channels, _ = layer_channels(model, layer, images.data.images, device)
        ablated = reference = torch.empty((channels, 0), dtype=decision.dtype)
    scores = shape_texture_scores(decision[run], ablated, shapes[run], textures[run], reference)
    return {"decision": decision.tolist(), "shape_images": int(by_shape.sum()), "texture_images": int(by_texture.sum()),
            "shape_score": scores.shape.tolist(), "texture_score": scores.texture.tolist(),
            "flipped": [run[changed].tolist() for changed in changed_images(reference, ablated)]}


def evaluate_channel_ablation(source: ModelSource, context: EvaluationContext) -> dict[str, dict[str, Any]]:
    """Per dissected layer, every channel's Shape and Texture score and the images it flips."""
    cache = channel_ablation_entry(source, context)
    loaded: dict[str, Any] = {}
    if not cache.is_complete(source.dissected_layers):  # the images before the model: a missing set fails fast
        loaded["images"] = cue_conflict_images(source.dataset, context)

    def compute(model: torch.nn.Module, layer: str, device: torch.device) -> dict[str, Any]:
        images = loaded["images"]
        if "decision" not in loaded:  # the intact model's decisions, once for all layers
            loaded["decision"] = intact_decisions(model, images, device)
        return ablate_layer(model.eval(), layer, images, loaded["decision"], device, context.settings.progress,
                            ablated_images(source, context))

    return resumable_cells(source, context, cache, source.dissected_layers, compute, "channel ablation", "layer")


def channel_ablation_rows(result: Mapping[str, Mapping[str, Any]], context: EvaluationContext) -> Iterator[dict[str, Any]]:
    for depth, (layer, cell) in enumerate(result.items(), start=1):
        for unit, (shape, texture) in enumerate(zip(cell["shape_score"], cell["texture_score"])):
            yield {"layer": layer.removeprefix("backbone."), "unit": unit, "shape_score": shape,
                   "texture_score": texture, "shape_images": cell["shape_images"],
                   "texture_images": cell["texture_images"], "depth": depth}


CHANNEL_ABLATION = register(Evaluation(
    name=NAME, description="channel ablation: per unit of the dissected layers, its Shape and Texture score, the "
    "cue-conflict images decided by shape / texture whose decision changes when it is zeroed (Fig 4b)",
    columns=("layer", "unit", "shape_score", "texture_score", "shape_images", "texture_images", "depth"),
    value="shape_score", evaluate=evaluate_channel_ablation, rows=channel_ablation_rows,
    is_cached=lambda source, context: channel_ablation_entry(source, context).is_complete(source.dissected_layers),
    headline_label="mean Shape score per unit (images decided by shape that flip when it is zeroed)",
    parameters=(PREPROCESSING_CHOICE,), unavailable=lambda dataset: without_stimuli(dataset, "channel ablation"),
))
