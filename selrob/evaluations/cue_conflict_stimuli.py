"""Decisions of ImageNet models on Geirhos et al. (2019)'s cue-conflict stimuli (the second paper's
Table 2), cached per source: per stimulus its file, shape and texture category, whether they
conflict, and the model's decision among the 16 categories (mean softmax probability per
category, :mod:`selrob.measures.human_categories`).

For sources whose dataset is ``imagenet``: 1000-class models taking [0, 1] images of 224 px
(normalisation inside the model). The cache key holds the manifest's fingerprint and the
preprocessing (``EvaluationSettings.cue_conflict_preprocessing``), which changes the numbers
(texture-vs-shape issue #26). Rows: ``cue`` is shape / texture / other on the 1,200 conflict
images and ``no-conflict`` on the 80 others; the headline, the mean of ``shape_decision`` over
the rows decided by a cue, is the shape bias.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import torch

from selrob import paths
from selrob.data import cue_conflict_stimuli as stimuli
from selrob.device import resolve_device
from selrob.errors import SelrobError
from selrob.attacks import per_image
from selrob.data.base import ImageSet
from selrob.evaluations.common import BATCH_SIZE, entry
from selrob.evaluations.registry import Evaluation, EvaluationContext, register
from selrob.measures.human_categories import decisions_from_logits
from selrob.measures.shape_bias import SHAPE, TEXTURE, cue_decisions
from selrob.store.cache import CacheEntry
from selrob.store.sources import ModelSource

NAME = "cue-conflict-imagenet"
NO_CONFLICT = "no-conflict"


def stimuli_entry(source: ModelSource, context: EvaluationContext) -> CacheEntry:
    return entry(source, NAME, {"stimuli": "geirhos-style-transfer",
                                "manifest": stimuli.manifest_fingerprint(stimuli.read_manifest()),
                                "preprocessing": context.settings.cue_conflict_preprocessing,
                                "mapping": "mean-softmax-16"})


@torch.no_grad()
def _decisions(model: torch.nn.Module, data: ImageSet, device: torch.device) -> torch.Tensor:
    """Each stimulus's category: the arg-max of the mean softmax probability per category."""
    return per_image(data, lambda x, y: decisions_from_logits(model(x)), BATCH_SIZE, device=device)


def evaluate_cue_conflict_imagenet(source: ModelSource, context: EvaluationContext) -> dict[str, list[Any]]:
    """``{"file", "shape", "texture", "conflict", "decision"}``, one entry per stimulus in the
    manifest's order; categories as indices into :data:`~selrob.data.cue_conflict_stimuli.CATEGORIES`."""
    if source.dataset != "imagenet":
        raise SelrobError(f"Geirhos et al.'s cue-conflict stimuli are for ImageNet models, not {source.dataset}")

    def compute() -> dict[str, list[Any]]:
        device = resolve_device(context.device)
        data = stimuli.load_stimuli(paths.data_dir(context.data_root), context.settings.cue_conflict_preprocessing,
                                    progress=context.settings.progress)
        return {"file": list(data.files), "shape": data.shapes.tolist(), "texture": data.textures.tolist(),
                "conflict": data.conflict.tolist(), "decision": _decisions(source.load_model(device), data.data, device).tolist()}

    return stimuli_entry(source, context).get_or_compute(compute)


def cue_conflict_imagenet_rows(result: dict[str, list[Any]], context: EvaluationContext) -> Iterator[dict[str, Any]]:
    conflict = np.array(result["conflict"], dtype=bool)
    cues = np.full(len(conflict), NO_CONFLICT, dtype=object)
    cues[conflict] = cue_decisions(*(np.array(result[key])[conflict] for key in ("decision", "shape", "texture")))
    for file, shape, texture, is_conflict, decision, cue in zip(
            result["file"], result["shape"], result["texture"], conflict, result["decision"], cues):
        yield {"file": file, "shape": stimuli.CATEGORIES[shape], "texture": stimuli.CATEGORIES[texture],
               "conflict": bool(is_conflict), "decision": stimuli.CATEGORIES[decision], "cue": cue,
               "shape_decision": cue == SHAPE}


def _decided_by_a_cue(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["cue"].isin([SHAPE, TEXTURE])]


CUE_CONFLICT_IMAGENET = register(Evaluation(
    name=NAME, description="16-class decisions of ImageNet models on Geirhos et al.'s cue-conflict stimuli (Table 2)",
    columns=("file", "shape", "texture", "conflict", "decision", "cue", "shape_decision"), value="shape_decision",
    evaluate=evaluate_cue_conflict_imagenet, rows=cue_conflict_imagenet_rows,
    is_cached=lambda source, context: stimuli_entry(source, context).exists(),
    headline=_decided_by_a_cue, headline_label="shape bias (shape / (shape + texture) decisions on conflict images)",
))
