"""Cue-conflict decisions (the second paper's Table 2), cached per source, on the cue-conflict images
of the source's dataset with that dataset's decision rule (:mod:`selrob.evaluations.stimuli`): the
embedded world's 900 images decided among its 10 classes, each with its non-conflict control; for
ImageNet models, Geirhos et al.'s 1,280 stimuli decided among the 16 categories (the cache key
holds the manifest's fingerprint and the preprocessing (:data:`PREPROCESSING_CHOICE`), which
changes the numbers: texture-vs-shape issue #26).

Rows, one per image: its number, file (ImageNet) and shape and texture category, whether they
conflict, the model's decision, its ``cue`` (shape / texture / other; ``no-conflict`` for the
controls in the set) and whether the image's control is classified right (``control_correct``:
the world's paired control; the ImageNet controls themselves). The headline, the mean of
``shape_decision`` over the conflict images decided by a cue, is the shape bias.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import torch

from selrob import paths
from selrob.attacks import per_image
from selrob.data.base import ImageSet
from selrob.device import resolve_device
from selrob.evaluations.common import BATCH_SIZE, entry
from selrob.data.cue_conflict_stimuli import DEFAULT_PREPROCESSING, PREPROCESSING, check_preprocessing
from selrob.evaluations.registry import Evaluation, EvaluationContext, ParameterGroup, register, register_parameters
from selrob.evaluations.stimuli import stimuli_for, without_stimuli
from selrob.measures.ablation import Decide
from selrob.measures.shape_bias import SHAPE, TEXTURE, cue_decisions
from selrob.store.cache import CacheEntry
from selrob.store.sources import ModelSource

NAME = "cue-conflict"
NO_CONFLICT = "no-conflict"
#: Bump when the cached result's form changes (the key of the images alone names the ablation's images).
FORMAT = 2


def _add_flags(parser: Any) -> None:
    parser.add_argument("--cue-conflict-preprocessing", choices=tuple(PREPROCESSING),
                        help="how Geirhos et al.'s stimuli reach ImageNet models: resize-crop (default, the paper's "
                             "code) or as-is (model-vs-human)")


#: How Geirhos et al.'s stimuli reach ImageNet models (:data:`~selrob.data.cue_conflict_stimuli.PREPROCESSING`),
#: ``resize-crop`` by default as the paper's repository does; read by this evaluation and the channel ablation.
PREPROCESSING_CHOICE = register_parameters(ParameterGroup(
    "cue_conflict_preprocessing", default=lambda dataset, smoke: DEFAULT_PREPROCESSING, add_flags=_add_flags,
    from_flags=lambda args: args.cue_conflict_preprocessing,
    flags_of=lambda value: "" if value == DEFAULT_PREPROCESSING else f" --cue-conflict-preprocessing {value}",
    check=check_preprocessing))


def preprocessing_of(context: EvaluationContext) -> str:
    """How ``context`` preprocesses Geirhos et al.'s stimuli."""
    return context.parameter(PREPROCESSING_CHOICE)


def cue_conflict_entry(source: ModelSource, context: EvaluationContext) -> CacheEntry:
    cue_conflict = stimuli_for(source.dataset, "cue-conflict decisions").cue_conflict
    return entry(source, NAME, {**cue_conflict.key(preprocessing_of(context)), "format": FORMAT})


@torch.no_grad()
def _decisions(model: torch.nn.Module, data: ImageSet, decide: Decide, device: torch.device) -> list[int]:
    return per_image(data, lambda x, y: decide(model(x)), BATCH_SIZE, device=device).tolist()


def evaluate_cue_conflict(source: ModelSource, context: EvaluationContext) -> dict[str, list[Any]]:
    """``{"shape", "texture", "conflict", "decision", "file", "control_decision"}``, one entry per
    image in the set's order (categories as indices into the set's categories; ``file`` empty
    where images have none, ``control_decision`` empty where the controls are in the set)."""
    cue_conflict = stimuli_for(source.dataset, "cue-conflict decisions").cue_conflict

    def compute() -> dict[str, list[Any]]:
        device = resolve_device(context.device)
        images = cue_conflict.images(paths.data_dir(context.data_root), preprocessing_of(context),
                                     context.settings.progress)
        model = source.load_model(device)
        controls = [] if cue_conflict.controls is None else _decisions(model, cue_conflict.controls(), images.decide,
                                                                        device)
        return {"shape": images.data.labels.tolist(), "texture": images.textures.tolist(),
                "conflict": images.conflict.tolist(), "decision": _decisions(model, images.data, images.decide, device),
                "file": list(images.files), "control_decision": controls}

    return cue_conflict_entry(source, context).get_or_compute(compute)


def cue_conflict_rows(result: dict[str, list[Any]], context: EvaluationContext) -> Iterator[dict[str, Any]]:
    categories = stimuli_for(context.dataset).cue_conflict.categories
    shapes, textures, decisions = (np.array(result[key]) for key in ("shape", "texture", "decision"))
    conflict = np.array(result["conflict"], dtype=bool)
    cues = np.full(len(conflict), NO_CONFLICT, dtype=object)
    cues[conflict] = cue_decisions(decisions[conflict], shapes[conflict], textures[conflict])
    # The world pairs each image with its control; ImageNet's controls are the set's non-conflict images.
    controls = (np.array(result["control_decision"]) == shapes if result["control_decision"]
                else np.where(conflict, None, decisions == shapes))
    files = result["file"] or [""] * len(conflict)
    for image, (file, shape, texture, is_conflict, decision, cue, control) in enumerate(
            zip(files, shapes, textures, conflict, decisions, cues, controls)):
        yield {"image": image, "file": file, "shape": categories[shape], "texture": categories[texture],
               "conflict": bool(is_conflict), "decision": categories[decision], "cue": cue,
               "shape_decision": cue == SHAPE, "control_correct": None if control is None else bool(control)}


def _decided_by_a_cue(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["cue"].isin([SHAPE, TEXTURE])]


CUE_CONFLICT = register(Evaluation(
    name=NAME, description="decisions on the dataset's cue-conflict images: the embedded world's, or Geirhos et "
    "al.'s stimuli in 16 categories for ImageNet models (Table 2)",
    columns=("image", "file", "shape", "texture", "conflict", "decision", "cue", "shape_decision", "control_correct"),
    value="shape_decision", evaluate=evaluate_cue_conflict, rows=cue_conflict_rows,
    is_cached=lambda source, context: cue_conflict_entry(source, context).exists(),
    headline=_decided_by_a_cue, headline_label="shape bias (shape / (shape + texture) decisions on conflict images)",
    parameters=(PREPROCESSING_CHOICE,), unavailable=lambda dataset: without_stimuli(dataset, "cue-conflict decisions"),
))
