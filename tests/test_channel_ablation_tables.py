"""Fig 4b's tables from hand-built scores: rates, group means with unit counts over every seed,
the texture units' texture share, Fig 5's unit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from selrob.tables import channel_ablation


def _rows(model: str, training: str, seed: int, shape_images: int, texture_images: int,
          units: list[tuple[str, bool, int, int]]) -> list[dict]:
    return [{"arch": "net", "model": model, "training": training, "seed": seed, "layer": "l1", "depth": 1,
             "unit": unit, "category": category, "interpretable": interpretable, "label": category[:3],
             "iou": 0.1 if interpretable else 0.01, "shape_score": shape, "texture_score": texture,
             "shape_images": shape_images, "texture_images": texture_images}
            for unit, (category, interpretable, shape, texture) in enumerate(units)]


# S decides 10 images by shape and 40 by texture, R 20 and 20. S's texture units flip twice as
# many texture decisions as shape ones; R's as many of each. R's seed 1 has no texture unit.
SCORES = pd.DataFrame([
    *_rows("net", "standard", 0, 10, 40, [("texture", True, 4, 8), ("texture", True, 2, 4), ("object", False, 9, 0)]),
    *_rows("net", "standard", 1, 10, 40, [("texture", True, 3, 6), ("object", True, 1, 1), ("texture", False, 0, 0)]),
    *_rows("net-R", "robust", 0, 20, 20, [("texture", True, 5, 5), ("texture", True, 1, 1), ("object", True, 2, 0)]),
    *_rows("net-R", "robust", 1, 20, 20, [("object", True, 4, 4), ("color", True, 1, 3), ("texture", False, 7, 7)]),
])


def test_unit_scores_join_the_labels_and_turn_scores_into_rates() -> None:
    ablation = SCORES.drop(columns=["category", "interpretable", "label", "iou"])
    units = SCORES[["arch", "model", "training", "seed", "layer", "unit", "label", "category", "iou", "interpretable"]]
    scores = channel_ablation.unit_scores(ablation, units)
    first = scores.iloc[0]
    # Exact by construction: each rate is one correctly rounded division (4 / 10, 8 / 40), as the literal is.
    assert (first["category"], first["shape_rate"], first["texture_rate"]) == ("texture", 0.4, 0.2)


def test_groups_average_units_over_every_seed_of_the_model() -> None:
    summary = channel_ablation.score_summary(SCORES).set_index(["model", "group"])
    # R's texture units: 2 in seed 0, none in seed 1 -> 1 unit a seed; their scores come from seed 0.
    assert summary.loc[("net-R", "texture"), "units"] == pytest.approx(1.0)
    assert summary.loc[("net-R", "texture"), "seeds"] == 1
    assert summary.loc[("net-R", "texture"), "shape_score"] == pytest.approx(3.0)
    assert summary.loc[("net", "all"), "units"] == pytest.approx(3.0)
    assert summary.loc[("net", "texture"), "texture_score"] == pytest.approx(np.mean([np.mean([8, 4]), 6]))
    assert ("net", "color") not in summary.index  # S has no interpretable colour unit in any seed
    assert summary.loc[("net-R", "color"), "units"] == pytest.approx(0.5)


def test_the_texture_share_of_texture_units_per_run() -> None:
    scores = SCORES.assign(shape_rate=SCORES["shape_score"] / SCORES["shape_images"],
                           texture_rate=SCORES["texture_score"] / SCORES["texture_images"])
    bias = channel_ablation.per_run_texture_unit_bias(scores).set_index(["model", "seed"])
    assert bias.loc[("net", 0), "texture_share"] == pytest.approx(6 / 9)  # Texture twice Shape: 2/3
    assert bias.loc[("net-R", 0), "texture_share"] == pytest.approx(0.5)  # equal: 1/2
    assert ("net-R", 1) not in bias.index  # no interpretable texture unit
    # In rates S's texture units are shape-biased: 3 of 10 shape decisions, 6 of 40 texture ones.
    assert bias.loc[("net", 0), "rate_share"] == pytest.approx(0.15 / (0.15 + 0.3))
    assert bias.loc[("net", 1), "units"] == 1


def test_fig5s_unit_is_the_texture_unit_with_the_most_flips_else_any_unit() -> None:
    scores = SCORES
    standard = pd.Series({"arch": "net", "model": "net", "seed": 0})
    assert channel_ablation.showcase_unit(scores, standard)["unit"] == 0  # 12 flips, against 6
    robust = pd.Series({"arch": "net", "model": "net-R", "seed": 1})
    assert channel_ablation.showcase_unit(scores, robust)["unit"] == 2  # no texture unit: the most flips
