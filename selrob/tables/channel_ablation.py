"""Tables of the second paper's section 3.4 on standard / robust (S / R) pairs: which units matter
for shape- or texture-based decisions, by zeroing one channel at a time.

A unit's Shape score counts the cue-conflict images its model decides by shape whose decision
changes when the unit is zeroed, its Texture score likewise for texture (Fig 4b). Models decide
different numbers of images by each cue (R models more by shape), so besides the paper's scores
the claims compare them as rates: a score over the images its model decides by that cue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from selrob.evaluations.registry import EvaluationContext, EvaluationSettings
from selrob.stats import mean_ci_across_seeds
from selrob.tables.dissection import RUN_KEYS, dissected_layer, interpretable, rows_of
from selrob.tables.evaluations import cached_result, source_of
from selrob.tables.robust_pairs import MODEL_KEYS, ordered, pair_evaluation

if TYPE_CHECKING:
    from selrob.evaluations.stimuli import CueConflictImages

#: Fig 4b's groups besides the NetDissect categories: every unit.
ALL = "all"


def ablation_table(runs: pd.DataFrame, settings: EvaluationSettings | None = None, evaluate: bool = True) -> pd.DataFrame:
    """Per model, seed, dissected layer and unit: its Shape and Texture scores and the images its
    model decides by shape and by texture."""
    return pair_evaluation("channel-ablation", runs, settings, evaluate)


def unit_scores(ablation: pd.DataFrame, units: pd.DataFrame) -> pd.DataFrame:
    """The ablation rows with each unit's Network Dissection label, category, IoU and whether it
    is interpretable, and its scores as rates (``shape_rate``, ``texture_rate``)."""
    labels = units[[*RUN_KEYS, "layer", "unit", "label", "category", "iou", "interpretable"]]
    table = ablation.merge(labels, on=[*RUN_KEYS, "layer", "unit"], how="left")
    return table.assign(shape_rate=table["shape_score"] / table["shape_images"].where(table["shape_images"] > 0),
                        texture_rate=table["texture_score"] / table["texture_images"].where(table["texture_images"] > 0))


def _groups(scores: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Every unit (:data:`ALL`), then the interpretable units of each category."""
    chosen = scores[interpretable(scores)]
    return [(ALL, scores), *((c, chosen[chosen["category"] == c]) for c in dict.fromkeys(chosen["category"]))]


def score_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Fig 4b: per model and group (every unit, then the interpretable units of each category),
    the mean Shape and Texture score per unit over the seeds with units in the group
    (``seeds``), with hierarchical 95% CIs (seeds, then units), and the mean number of units
    over all the model's seeds (``units``, 0 for a seed without any); a group empty in every seed
    has no row."""
    all_seeds = scores.groupby(MODEL_KEYS, sort=False)["seed"].unique()
    rows = []
    for group, part in _groups(scores):
        for key, model in part.groupby(MODEL_KEYS, sort=False):
            seeds = [s for _, s in model.groupby("seed", sort=False)]
            row = {**dict(zip(MODEL_KEYS, key)), "group": group,
                   "units": sum(len(s) for s in seeds) / len(all_seeds[key]), "seeds": len(seeds)}
            for value in ("shape_score", "texture_score"):
                row[value], row[f"{value}_ci_low"], row[f"{value}_ci_high"] = mean_ci_across_seeds(
                    [s[value].to_numpy(dtype=float) for s in seeds])
            rows.append(row)
    return ordered(pd.DataFrame(rows), ("arch", "training", "model"))


def per_run_texture_unit_bias(scores: pd.DataFrame, category: str = "texture") -> pd.DataFrame:
    """Per model and seed, over its interpretable units of ``category``: the texture share of the
    flips, mean Texture score / (mean Texture + mean Shape score) (``texture_share``, Fig 4b's
    comparison as a ratio: 2/3 where Texture is twice Shape, 1/2 where they are equal), the same of
    the rates (``rate_share``: each score over the images its model decides by that cue, so that
    a model deciding more images by texture does not look texture-biased for that alone; NaN
    when nothing flips) and how many units that is; runs without such a unit have no row."""
    chosen = scores[interpretable(scores) & (scores["category"] == category)]
    per_run = chosen.groupby(RUN_KEYS, as_index=False, sort=False).agg(
        texture_score=("texture_score", "mean"), shape_score=("shape_score", "mean"),
        texture_rate=("texture_rate", "mean"), shape_rate=("shape_rate", "mean"), units=("unit", "size"))
    scored = per_run["texture_score"] + per_run["shape_score"]
    rated = per_run["texture_rate"] + per_run["shape_rate"]
    return per_run.assign(texture_share=per_run["texture_score"] / scored.where(scored > 0),
                          rate_share=per_run["texture_rate"] / rated.where(rated > 0))


def showcase_unit(scores: pd.DataFrame, run: pd.Series, category: str = "texture") -> pd.Series:
    """Fig 5's unit of ``run``: its interpretable unit of ``category`` with the highest Shape plus
    Texture score, else (none in it) its unit with the highest sum."""
    mine = rows_of(scores, run)
    chosen = mine[interpretable(mine) & (mine["category"] == category)]
    pool = chosen if len(chosen) else mine
    total = pool["shape_score"] + pool["texture_score"]
    return pool.assign(total=total).sort_values(["total", "depth", "unit"], ascending=[False, True, True],
                                                kind="stable").iloc[0]


def flipped_images(run: pd.Series, layer: str, unit: int, settings: EvaluationSettings | None = None,
                   count: int = 8, evaluate: bool = True,
                   images: CueConflictImages | None = None) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """Fig 5 / A20-A26: up to ``count`` cue-conflict images the model decides by shape (first row)
    and by texture (second row) whose decision changes when the unit is zeroed, each captioned
    ``<shape>-<texture>``. Returns the rows and their captions. Without ``evaluate`` a missing
    ablation is an error naming its command; ``images`` are the model's cue-conflict images when
    the caller has them already."""
    from selrob.evaluations.channel_ablation import cue_conflict_images
    from selrob.evaluations.stimuli import stimuli_for

    source = source_of(run)
    context = EvaluationContext(source.dataset, settings or EvaluationSettings())
    cell = cached_result("channel-ablation", source, context.settings, evaluate)[dissected_layer(source, layer)]
    images = images or cue_conflict_images(source.dataset, context)
    names = stimuli_for(source.dataset).cue_conflict.categories
    decision, flipped = np.array(cell["decision"]), np.array(cell["flipped"][unit], dtype=int)
    shapes, textures = images.data.labels.numpy(), images.textures.numpy()
    rows, captions = {}, {}
    for cue, labels in (("shape", shapes), ("texture", textures)):
        chosen = flipped[decision[flipped] == labels[flipped]][:count]
        if len(chosen):
            title = f"decided by {cue},\nflipped"
            rows[title] = images.data.images[chosen].numpy().transpose(0, 2, 3, 1)
            captions[title] = [f"{names[shapes[k]]}-{names[textures[k]]}" for k in chosen]
    return rows, captions
