"""The explorer without a browser: built on the evaluated smoke runs of both studies, its controls
offer what the caches hold and every change of a control changes the data its panels draw."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from selrob.evaluations.registry import EvaluationSettings
from selrob.explorer import Explorer
from selrob.explorer.app import STUDY_VIEWS
from selrob.explorer.catalog import _labelled
from selrob.explorer.selectivity_views import ALL
from selrob.pipeline.notebooks import execute_notebook
from selrob.studies import studies
from selrob.tables.evaluations import evaluation_table

pytestmark = pytest.mark.slow
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "00_explore.ipynb"


@pytest.fixture(scope="module")
def explorer(explorer_runs: Path) -> Explorer:
    return Explorer(runs_dir=explorer_runs, smoke=True)


def test_the_controls_offer_exactly_what_is_cached(explorer: Explorer) -> None:
    assert explorer.controls["study"].options == ("selectivity", "shape_bias", "bridge")
    assert list(explorer.catalog.sweeps) == ["digits / resnet20"] and list(explorer.catalog.pairs) == ["shapes / alexnet_small"]
    runs = explorer.views.runs
    assert explorer.controls["alpha"].options == (*(f"{a:g}" for a in sorted(runs["alpha"].unique())), ALL) == ("-1", "0", "1", ALL)
    assert explorer.controls["seed"].options == (ALL, "0", "1")
    assert [value for _, value in explorer.controls["layer"].options] == list(range(19))  # ResNet20's 19 ReLU calls
    thresholds = evaluation_table("dimensionality-clean", runs, EvaluationSettings(smoke=True), evaluate=False)
    cached = sorted(thresholds.loc[thresholds["measure"] == "pca", "threshold"].unique())
    assert [value for _, value in explorer.controls["threshold"].options] == cached and len(cached) > 1
    assert not explorer.errors and not explorer.message


def test_a_different_layer_or_unit_shows_that_layers_selectivity_and_that_units_means(explorer: Explorer) -> None:
    explorer.controls["study"].value = "selectivity"
    explorer.controls["alpha"].value, explorer.controls["seed"].value = "1", "0"
    cache = evaluation_table("unit-selectivity", explorer.views.runs, EvaluationSettings(smoke=True), evaluate=False)
    for layer in (0, 7):
        explorer.controls["layer"].value = layer
        shown = explorer.data["selectivity"]
        expected = cache[(cache["layer"] == layer) & cache["alpha"].isin([0.0, 1.0]) & (cache["seed"] == 0)]
        assert sorted(shown["alpha"].unique()) == [0.0, 1.0]  # the chosen alpha and the baseline
        assert np.array_equal(shown.sort_values(["alpha", "unit"])["selectivity"].to_numpy(),
                              expected.sort_values(["alpha", "unit"])["selectivity"].to_numpy())
        assert len(explorer.controls["unit"].options) == len(expected) // 2  # that layer's units
    explorer.controls["layer"].value = 7
    first = explorer.data["class_means"]
    explorer.controls["unit"].value = 5
    means = explorer.data["class_means"]
    assert not means.equals(first) and list(means["class"].unique()) == list(range(10))
    run = explorer.views.run(1.0, 0)
    stored = json.loads(next(Path(run["run_dir"]).glob("evaluations/unit-selectivity-*.json")).read_text())
    layer = stored["result"][7]
    assert np.allclose(means[means["alpha"] == 1.0]["mean"], [row[5] for row in layer["class_means"]])


def test_alpha_seed_and_threshold_change_the_panels_they_drive(explorer: Explorer) -> None:
    explorer.controls["study"].value = "selectivity"
    explorer.controls["seed"].value = ALL
    corruptions = evaluation_table("corruptions", explorer.views.runs, EvaluationSettings(smoke=True), evaluate=False)
    for alpha in ("-1", "1"):
        explorer.controls["alpha"].value = alpha
        grid = explorer.data["corruptions"]
        rows = corruptions[corruptions["alpha"] == float(alpha)]
        expected = rows.groupby(["corruption", "severity"])["accuracy"].mean()
        assert np.allclose([grid.loc[c, s] for c, s in expected.index], expected.to_numpy())
    explorer.controls["seed"].value = "1"
    fgsm, pgd = explorer.data["attacks"]
    assert set(fgsm["seed"]) == {1} and set(pgd["seed"]) == {1} and set(fgsm["alpha"]) == {-1.0, 0.0, 1.0}
    values = {}
    for label, threshold in explorer.controls["threshold"].options:
        explorer.controls["threshold"].value = threshold
        values[threshold] = explorer.data["dimensionality"]["dimensionality"].sum()
    assert sorted(values.values()) == [values[t] for t in sorted(values)] and len(set(values.values())) > 1
    assert not explorer.errors


def test_the_second_study_shows_a_units_label_images_and_ablation(explorer: Explorer) -> None:
    explorer.controls["study"].value = "shape_bias"
    assert explorer.controls["layer"].options == tuple(f"features.relu{k}" for k in range(1, 6))
    models = [label for label, _ in explorer.controls["model"].options]
    assert models == ["alexnet_small S, seed 0", "alexnet_small S, seed 1", "alexnet_small R, seed 0",
                      "alexnet_small R, seed 1"]
    explorer.controls["model"].value = 2
    explorer.controls["layer"].value = "features.relu1"
    explorer.controls["unit"].value = 3
    assert explorer.data["filter"].shape == (7, 7, 3)  # conv1's 7 x 7 RGB kernel
    row, concepts = explorer.data["label"]
    assert row["unit"] == 3 and row["layer"] == "features.relu1" and row["model"] == "alexnet_small R"
    assert concepts["iou"].is_monotonic_decreasing and concepts["iou"].iloc[0] == pytest.approx(row["iou"])
    first_images = explorer.data["top_images"]
    scores, _ = explorer.data["ablation"]
    assert scores["unit"] == 3 and scores["shape_score"] <= scores["shape_images"]
    explorer.controls["unit"].value = 4
    assert not np.array_equal(first_images, explorer.data["top_images"]) and explorer.data["label"][0]["unit"] == 4
    explorer.controls["layer"].value = "features.relu3"
    assert explorer.data["filter"] is None  # filters are drawn for the first layer only
    assert len(explorer.controls["unit"].options) == 96
    summary = explorer.data["summary"]
    assert list(summary["model"]) == ["alexnet_small S", "alexnet_small R"] and summary["shape_bias"].between(0, 1).all()
    assert not explorer.errors


def test_the_bridge_shows_a_measure_per_layer_of_s_and_r_and_one_against_alpha(explorer: Explorer) -> None:
    explorer.controls["study"].value = "bridge"
    assert list(explorer.controls["group"].options) == ["shapes / alexnet_small"]
    layers = explorer.data["bridge_layers"]
    assert set(layers["training"]) == {"standard", "robust"} and layers["value"].between(0, 1).all()  # selectivity
    explorer.controls["layer_measure"].value = "PCA-95% dimensionality, PGD"
    pgd = explorer.data["bridge_layers"]
    assert set(pgd["perturbation"]) == {"pgd"} and not pgd["value"].equals(layers["value"])
    explorer.controls["alpha_measure"].value = "shape bias"
    shape = explorer.data["bridge_alpha"]
    assert sorted(shape["alpha"].unique()) == [-1.0, 0.0, 1.0] and shape["value"].between(0, 1).all()
    assert len(shape) == 6  # 3 alphas x 2 smoke seeds
    assert not explorer.errors


def test_a_panel_without_its_cache_names_the_command(smoke_runs: Path, tmp_path: Path) -> None:
    shutil.copytree(smoke_runs, tmp_path / "runs", ignore=shutil.ignore_patterns("evaluations"))
    explorer = Explorer(runs_dir=tmp_path / "runs")
    assert explorer.controls["study"].options == ("selectivity",)
    assert set(explorer.errors) == {"selectivity", "class_means", "attacks", "corruptions", "dimensionality", "gradients"}
    assert "selrob evaluate unit-selectivity --dataset digits" in explorer.errors["selectivity"]
    assert not list((tmp_path / "runs").rglob("evaluations/*.json"))  # it read caches only


def test_an_empty_runs_folder_says_how_to_train(tmp_path: Path) -> None:
    explorer = Explorer(runs_dir=tmp_path)
    assert explorer.controls["study"].options == () and "make reproduce" in explorer.message


def test_the_explorer_has_the_views_of_every_study() -> None:
    # The explorer sits below the studies and cannot import them: its table of views is keyed
    # by their names, in their order, and its panels' keys are unique across studies.
    assert list(STUDY_VIEWS) == list(studies())
    keys = [panel.key for study in STUDY_VIEWS.values() for panel in study.panels]
    assert len(keys) == len(set(keys))


def test_sweeps_of_two_protocols_of_one_model_are_told_apart() -> None:
    runs = pd.DataFrame({"alpha": [0.0]})
    labels = _labelled({("digits", "resnet20", "8c0f244bbe"): runs, ("digits", "resnet20", "12922d365f"): runs,
                        ("cifar10", "resnet20", "aaaa"): runs})
    assert sorted(labels) == ["cifar10 / resnet20", "digits / resnet20 (12922d365f)", "digits / resnet20 (8c0f244bbe)"]


def test_the_notebook_runs_on_the_smoke_runs(explorer_runs: Path, tmp_path: Path) -> None:
    executed = execute_notebook(NOTEBOOK, tmp_path, {"runs_dir": str(explorer_runs), "smoke": True})
    text = executed.read_text()
    assert "Traceback" not in text and "application/vnd.jupyter.widget-view+json" in text
