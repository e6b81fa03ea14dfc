"""Fig 4a / A7-A10's tables from hand-built unit labels: counts per category with R's change,
per concept R minus S, diversity, and the per-run values the claims pair."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from selrob.tables import dissection


def _units(model: str, training: str, seed: int, layers: dict[str, list[tuple[str, str, float, int]]]) -> list[dict]:
    rows = []
    for depth, (layer, units) in enumerate(layers.items(), start=1):
        for unit, (label, category, iou, diversity) in enumerate(units):
            rows.append({"arch": "net", "model": model, "training": training, "seed": seed, "layer": layer,
                         "depth": depth, "unit": unit, "label": label, "category": category, "iou": iou,
                         "interpretable": iou >= 0.04, "diversity": diversity})
    return rows


# Seed 0: S has 2 object units and 1 colour unit (one object unit below 0.04 is not counted); R
# has 1 object, 2 colour, 1 texture. Seed 1: S 1 object 1 colour, R 0 object 2 colour 1 texture.
UNITS = pd.DataFrame([
    *_units("net", "standard", 0, {"l1": [("square", "object", 0.30, 4), ("red", "color", 0.10, 2)],
                                   "l2": [("circle", "object", 0.05, 3), ("star", "object", 0.02, 1)]}),
    *_units("net-R", "robust", 0, {"l1": [("red", "color", 0.20, 2), ("blue", "color", 0.15, 1)],
                                   "l2": [("square", "object", 0.06, 2), ("dots", "texture", 0.07, 1)]}),
    *_units("net", "standard", 1, {"l1": [("square", "object", 0.40, 5), ("red", "color", 0.09, 3)],
                                   "l2": [("star", "object", 0.01, 2), ("dots", "texture", 0.03, 2)]}),
    *_units("net-R", "robust", 1, {"l1": [("red", "color", 0.30, 1), ("green", "color", 0.08, 1)],
                                   "l2": [("dots", "texture", 0.05, 2), ("circle", "object", 0.03, 1)]}),
])


def test_interpretable_units_are_counted_per_category_with_zeros() -> None:
    counts = dissection.per_run_category_counts(UNITS).set_index(["model", "seed", "category"])["count"]
    assert counts[("net", 0, "object")] == 2 and counts[("net", 0, "color")] == 1 and counts[("net", 0, "texture")] == 0
    assert counts[("net-R", 1, "object")] == 0 and counts[("net-R", 1, "color")] == 2
    per_layer = dissection.layer_category_counts(UNITS, ["object"]).set_index(["model", "seed", "layer"])["count"]
    assert per_layer[("net", 0, "l2")] == 1 and per_layer[("net-R", 0, "l1")] == 0


def test_the_count_table_gives_means_over_seeds_and_rs_change_in_percent() -> None:
    table = dissection.category_count_table(UNITS).set_index(["model", "category"])
    assert table.loc[("net", "object"), "count"] == pytest.approx(1.5)
    assert table.loc[("net-R", "object"), "count"] == pytest.approx(0.5)
    assert table.loc[("net-R", "object"), "change_percent"] == pytest.approx((0.5 - 1.5) / 1.5 * 100)
    assert table.loc[("net-R", "color"), "change_percent"] == pytest.approx(100.0)
    assert np.isnan(table.loc[("net-R", "texture"), "change_percent"])  # S has none: no percentage
    assert np.isnan(table.loc[("net", "color"), "change_percent"])  # only R models change
    assert (table["ci_low"] <= table["count"]).all() and (table["count"] <= table["ci_high"]).all()
    assert set(table["units"]) == {4}


def test_concept_differences_pair_each_r_model_with_its_s_partner_per_seed() -> None:
    table = dissection.concept_count_difference(UNITS).set_index("label")
    # square: S 1 and 1, R 1 and 0 -> -0.5; dots: S 0 and 0, R 1 and 1 -> +1; circle: S 1, 0 -> -0.5.
    assert table.loc["square", "difference"] == pytest.approx(-0.5)
    assert table.loc["dots", "difference"] == pytest.approx(1.0)
    assert table.loc["circle", "difference"] == pytest.approx(-0.5)
    assert "red" not in table.index  # colour is not among the categories asked for
    assert list(table["difference"]) == sorted(table["difference"], reverse=True)


def test_diversity_and_the_per_run_summary() -> None:
    diversity = dissection.diversity_table(UNITS).set_index(["model", "layer"])
    assert diversity.loc[("net", "all"), "diversity"] == pytest.approx(np.mean([2.5, 3.0]))
    assert diversity.loc[("net-R", "l1"), "diversity"] == pytest.approx(np.mean([1.5, 1.0]))
    summary = dissection.per_run_unit_summary(UNITS).set_index(["model", "seed"])
    assert summary.loc[("net-R", 0), ["object", "color", "texture"]].tolist() == [1, 2, 1]
    assert summary.loc[("net", 1), "diversity"] == pytest.approx(3.0)


def test_best_units_pick_the_highest_iou_in_a_category_or_concept() -> None:
    run = pd.Series({"arch": "net", "model": "net", "seed": 0})
    assert dissection.best_units(UNITS, run, "object")["label"].tolist() == ["square"]
    assert dissection.best_units(UNITS, run, label="star")["iou"].tolist() == [0.02]
    assert dissection.best_units(UNITS, run, count=2)["label"].tolist() == ["square", "red"]


def test_every_probe_category_gets_a_count_and_dead_units_none() -> None:
    dead = UNITS.iloc[:1].assign(unit=9, label="-", category="", iou=0.0, interpretable=False, diversity=0)
    units = pd.concat([UNITS, dead], ignore_index=True)
    assert dissection.categories_of(units) == ["object", "color", "texture"]  # no "" category
    summary = dissection.per_run_unit_summary(units, ["object", "texture", "color", "part"])
    assert summary["part"].tolist() == [0, 0, 0, 0]  # a category no unit is labelled in still pairs
    counts = dissection.per_run_category_counts(units).set_index(["model", "seed", "category"])
    assert counts.loc[("net", 0, "object"), "units"] == 5  # the dead unit is still one of the layer's units
