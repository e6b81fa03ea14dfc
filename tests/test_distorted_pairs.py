"""Table 3, Table A1, Fig A1 and the smoothness tables (the second paper's sections 3.2, 3.3.1)
on the smoke pairs: the tables agree with the evaluations they are made from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr

from selrob.distortions.image_types import IMAGE_TYPES
from selrob.evaluations import EvaluationContext, EvaluationSettings, get_evaluation
from selrob.evaluations.correct_subset import robustness_pairings
from selrob.measures.total_variation import channel_total_variation, kernel_total_variation
from selrob.tables import distorted_images, robust_pairs, smoothness
from selrob.tables.evaluations import sources_of

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(smoke_pairs: Path, shapes_c: Path) -> pd.DataFrame:
    return robust_pairs.load_robust_pairs("shapes", smoke=True, runs_root=smoke_pairs).runs


def test_table3_counts_only_the_pairs_subset_and_matches_its_evaluations(runs: pd.DataFrame, shapes_c: Path) -> None:
    from selrob.data.corrupted import CorruptedSet

    generated = CorruptedSet("shapes").corruptions()
    decisions = distorted_images.decisions(runs)
    subsets = distorted_images.pair_subsets(runs)
    assert set(decisions["column"]) == set(distorted_images.COLUMNS)
    # Every decision is on an image of its pair's subset, and the real images are all right there.
    counted = decisions.merge(subsets, on=["pair", "arch", "seed", "image"], how="left", indicator=True)
    assert (counted["_merge"] == "both").all()
    assert decisions.loc[decisions["column"] == "real", "correct"].all()
    assert set(decisions.loc[decisions["column"] == "corruptions", "corruption"]) == set(generated)

    table3 = distorted_images.distorted_accuracy_table(runs, table=decisions)
    assert table3["training"].tolist() == ["standard", "robust"] and table3["real"].eq(1.0).all()
    seed0 = runs[runs["seed"] == 0]
    sources = dict(zip(seed0["training"], sources_of(seed0)))
    context = EvaluationContext("shapes", EvaluationSettings(smoke=True))
    subset = set(subsets.loc[subsets["seed"] == 0, "image"])
    per_run = distorted_images.per_run_accuracy(decisions)
    for training, source in sources.items():
        cells = get_evaluation("distorted-images").evaluate(source, context)
        assert list(cells) == list(IMAGE_TYPES)
        stylized = [p == y for i, (p, y) in enumerate(zip(cells["stylized"]["prediction"], cells["stylized"]["label"]))
                    if i in subset]
        mine = per_run[(per_run["training"] == training) & (per_run["seed"] == 0)]
        assert mine["stylized"].iloc[0] == pytest.approx(np.mean(stylized))
    for row in table3.itertuples():
        seeds = per_run[per_run["model"] == row.model]
        assert row.contour == pytest.approx(seeds["contour"].mean())  # the mean over seeds of each seed's share
        assert row.contour_ci_low <= row.contour <= row.contour_ci_high

    grid = distorted_images.scrambled_by_grid(runs, table=decisions)
    assert sorted(set(grid["grid"])) == [1, 2, 4, 8] and grid.loc[grid["grid"] == 1, "accuracy"].eq(1.0).all()
    table_a1 = distorted_images.per_corruption_table(runs, table=decisions)
    assert set(table_a1["corruption"]) == set(generated)


def test_smoothness_tables_are_the_measures_on_the_models(runs: pd.DataFrame) -> None:
    standard, robust = robust_pairs.first_pair(runs, "alexnet_small")
    model = sources_of(pd.DataFrame([standard]))[0].load_model("cpu")
    layers = smoothness.kernel_tv_by_layer(runs)
    mine = layers[(layers["model"] == standard["model"]) & (layers["seed"] == standard["seed"])]
    assert mine["mean_tv"].to_numpy() == pytest.approx(kernel_total_variation(model)["mean_tv"].to_numpy())
    assert smoothness.kernel_tv_table(runs)["seeds"].eq(2).all()

    matches, s, r = smoothness.matched_filters(standard, robust)
    assert len(matches) == s.shape[0] == 32
    first = matches.iloc[0]
    assert first["r"] == pytest.approx(spearmanr(s[0].ravel(), r[int(first["match"])].ravel()).statistic)
    assert first["r"] >= max(spearmanr(s[0].ravel(), other.ravel()).statistic for other in r) - 1e-12

    table = smoothness.activation_tv_table(runs)
    pairing = robustness_pairings(*[sources_of(runs[runs["seed"] == standard["seed"]])] * 2)[0]
    subset = sorted(distorted_images.pair_subsets(runs).query(f"seed == {standard['seed']}")["image"])
    data = pairing.source.test_set()
    clean = channel_total_variation(model, pairing.source.dissected_layers,
                                    [data.images[torch.as_tensor(subset)].float() / 255])
    first = table[(table["training"] == "standard") & (table["seed"] == standard["seed"]) & (table["depth"] == 1)]
    assert first["clean"].to_numpy() == pytest.approx(clean["backbone.features.relu1"].numpy())
    assert (first["images"] == len(subset)).all()
    assert set(table["layer"]) == {f"features.relu{i}" for i in range(1, 6)}
    noise = smoothness.per_run_noise_sensitivity(table)
    assert len(noise) == 4 and np.isfinite(noise["increase"]).all()
