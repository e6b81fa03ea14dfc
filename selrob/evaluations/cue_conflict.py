"""Cue-conflict decisions on the embedded shape-texture world (the second paper's Table 2 on its
own cue-conflict set, :func:`selrob.data.shape_texture.cue_conflict_specs`), cached per source:
per image, the class of its shape and of its texture, the model's decision on it and whether the
model classifies its non-conflict control (the same image with the shape's own texture) right.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from selrob.data.shape_texture import WORLD_SEED, as_image_set, build, control_specs, cue_conflict_specs
from selrob.device import resolve_device
from selrob.errors import SelrobError
from selrob.evaluations.common import entry, top1_predictions
from selrob.evaluations.registry import Evaluation, EvaluationContext, register
from selrob.measures.shape_bias import cue_decisions
from selrob.store.cache import CacheEntry
from selrob.store.sources import ModelSource

#: Images per ordered (shape, texture) pair: 10 x 9 pairs x 10 = 900 cue-conflict images.
PER_PAIR = 10


def cue_conflict_entry(source: ModelSource) -> CacheEntry:
    return entry(source, "cue-conflict", {"world": "shape-texture", "seed": WORLD_SEED, "per_pair": PER_PAIR})


def evaluate_cue_conflict(source: ModelSource, context: EvaluationContext) -> dict[str, list[int]]:
    """``{"shape", "texture", "prediction", "control_prediction"}``, one entry per cue-conflict image."""
    if source.dataset != "shapes":
        raise SelrobError(f"the embedded cue-conflict set is for shapes models, not {source.dataset}")

    def compute() -> dict[str, list[int]]:
        device = resolve_device(context.device)
        model = source.load_model(device)
        specs = cue_conflict_specs(PER_PAIR, WORLD_SEED)
        conflict, control = (as_image_set(build(s)).to(device) for s in (specs, control_specs(specs)))
        return {"shape": [s.shape for s in specs], "texture": [s.texture for s in specs],
                "prediction": top1_predictions(model, conflict).tolist(),
                "control_prediction": top1_predictions(model, control).tolist()}

    return cue_conflict_entry(source).get_or_compute(compute)


def cue_conflict_rows(result: dict[str, list[int]], context: EvaluationContext) -> Iterator[dict[str, Any]]:
    decisions = cue_decisions(np.array(result["prediction"]), np.array(result["shape"]), np.array(result["texture"]))
    for index, (shape, texture, decision, control) in enumerate(
            zip(result["shape"], result["texture"], decisions, result["control_prediction"])):
        yield {"image": index, "shape": shape, "texture": texture, "cue": str(decision),
               "control_correct": control == shape}


CUE_CONFLICT = register(Evaluation(
    name="cue-conflict", description="decisions on the embedded world's cue-conflict images (Table 2)",
    columns=("image", "shape", "texture", "cue", "control_correct"), value="control_correct",
    evaluate=evaluate_cue_conflict, rows=cue_conflict_rows, is_cached=lambda source, context: cue_conflict_entry(source).exists(),
    headline_label="share of non-conflict controls classified right",
))
