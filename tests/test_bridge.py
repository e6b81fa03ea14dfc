"""The bridge study: every question's statistic on constructed tables whose answers are known,
the tables it reads on hand-built evaluations, and its place among the studies."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from selrob.config import bridge_sweep_configs, robust_pair_configs
from selrob.errors import SelrobError
from selrob.pipeline.figures import figure_of
from selrob.pipeline.notebooks import execute_notebook
from selrob.studies import studies
from selrob.studies.bridge_claims import CLAIMS
from selrob.tables import bridge
from selrob.tables.aggregates import early_layer_dimensionality
from selrob.tables.claims import INCONCLUSIVE, SUPPORTS, claims_table
from support.studies import left_as_found

ARCHS, SEEDS, ALPHAS = ("alexnet_small", "resnet20"), (0, 1), (-1.0, 0.0, 1.0)
#: Per claim, the effect the constructed tables build in (R - S, or the slope per unit alpha).
KNOWN = {
    "robust_selectivity": -0.10, "robust_selectivity_early": 0.05, "robust_selectivity_late": -0.20,
    "robust_dimensionality_clean": -0.08, "robust_dimensionality_noise": 0.06, "robust_dimensionality_pgd": -0.12,
    "robust_cv_within_units": 0.30, "robust_cv_across_units": -0.04,
    "alpha_selectivity": 0.15, "alpha_shape_bias": -0.07, "alpha_stylized": 0.03, "alpha_contour": -0.05,
    "alpha_silhouette": 0.02, "alpha_kernel_tv": -0.01, "alpha_texture_units": 2.0, "alpha_object_units": -1.5,
    "alpha_colour_units": 0.5,
}
#: Spread around the built-in effect, one value per replicate (2 architectures x 2 seeds); it sums
#: to 0, so the mean (of the differences, or of the per-replicate slopes) is the effect exactly.
SPREAD = np.array([0.004, -0.004, 0.002, -0.002])


def _pairs(columns: dict[str, float]) -> pd.DataFrame:
    """S and R rows per (arch, seed): S at a level per column, R at that level + effect + spread."""
    rows = []
    for k, (arch, seed) in enumerate((a, s) for a in ARCHS for s in SEEDS):
        for training in ("standard", "robust"):
            row = {"arch": arch, "seed": seed, "training": training, "model": f"{arch} {training[0].upper()}"}
            for column, effect in columns.items():
                level = 1.0 + 0.5 * k  # architectures and seeds differ in level, not in effect
                row[column] = level + (effect * (1 + SPREAD[k] / 0.01) if training == "robust" else 0.0)
            rows.append(row)
    return pd.DataFrame(rows)


def _sweep(columns: dict[str, float]) -> pd.DataFrame:
    """One row per (arch, seed, alpha): a level per architecture plus (slope + spread) x alpha."""
    rows = []
    for k, (arch, seed) in enumerate((a, s) for a in ARCHS for s in SEEDS):
        for alpha in ALPHAS:
            row = {"arch": arch, "seed": seed, "alpha": alpha, "model": f"{arch} alpha {alpha:g}", "training": "standard"}
            for column, slope in columns.items():
                row[column] = (3.0 if arch == "resnet20" else 1.0) + slope * (1 + SPREAD[k] / 0.01) * alpha
            rows.append(row)
    return pd.DataFrame(rows)


def constructed_inputs() -> SimpleNamespace:
    dims = []
    for perturbation in ("clean", "noise", "pgd"):
        frame = _pairs({"dimensionality": KNOWN[f"robust_dimensionality_{perturbation}"]})
        dims.append(frame.assign(perturbation=perturbation))
    return SimpleNamespace(
        pair_selectivity=_pairs({"mean": KNOWN["robust_selectivity"], "early": KNOWN["robust_selectivity_early"],
                                 "late": KNOWN["robust_selectivity_late"]}),
        pair_dimensionality=pd.concat(dims, ignore_index=True),
        pair_unit_gradients=_pairs({"mean_cv_u": KNOWN["robust_cv_within_units"],
                                    "cv_l": KNOWN["robust_cv_across_units"]}),
        sweep=_sweep({"mean_selectivity": KNOWN["alpha_selectivity"]}),
        sweep_shape_bias=_sweep({"shape": KNOWN["alpha_shape_bias"]}),
        sweep_distorted=_sweep({"stylized": KNOWN["alpha_stylized"], "contour": KNOWN["alpha_contour"],
                                "silhouette": KNOWN["alpha_silhouette"]}),
        sweep_kernel_tv=_sweep({"mean_tv": KNOWN["alpha_kernel_tv"]}),
        sweep_units=_sweep({"texture": KNOWN["alpha_texture_units"], "object": KNOWN["alpha_object_units"],
                            "color": KNOWN["alpha_colour_units"]}),
    )


def test_every_question_has_a_constructed_answer() -> None:
    assert sorted(KNOWN) == sorted(claim.key for claim in CLAIMS)


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda claim: claim.key)
def test_each_questions_statistic_finds_the_effect_built_into_its_tables(claim) -> None:  # type: ignore[no-untyped-def]
    row = claims_table([claim], constructed_inputs()).iloc[0]
    effect = KNOWN[claim.key]
    # The spread sums to 0, so the mean is the effect up to rounding (1e-9 of it).
    assert row["effect"] == pytest.approx(effect, rel=1e-9)
    assert row["n"] == 4 and row["replicates"] == 4
    # The spread is 40% of the effect at most: every CI excludes 0 on the effect's side.
    assert row["ci_low"] < effect < row["ci_high"] and (row["ci_low"] > 0 or row["ci_high"] < 0)
    if claim.direction == 0:
        assert row["verdict"] == claim.answers[0 if effect > 0 else 1]
    else:
        assert row["verdict"] == SUPPORTS
    # Replicates at 1.4, 0.6, 1.2 and 0.8 times the effect: t = 5.5, decided; without the 1.2 (resnet20
    # seed 0) t = 0.933 / 0.240 = 3.9 < 4.30 with 3 (the others leave t 4.4 to 6.4); and the largest
    # plausible spread gives 5.5 / 2.27 = 2.4 < 3.18. Exact arithmetic on these values, no kernel.
    assert row["fragile_because"] == ("changes without arch resnet20 seed 0; a spread within its 80% interval "
                                      "would change it")


def test_a_question_the_data_cannot_decide_says_so() -> None:
    claim = next(c for c in CLAIMS if c.key == "alpha_shape_bias")
    flat = _sweep({"shape": 0.0})
    flat["shape"] += [0.0, 0.0, 0.0, 0.02, 0.0, -0.02, 0.0, 0.0, 0.0, -0.02, 0.0, 0.02]
    row = claims_table([claim], SimpleNamespace(sweep_shape_bias=flat)).iloc[0]
    assert row["effect"] == pytest.approx(0.0, abs=1e-12) and row["verdict"] == INCONCLUSIVE


def test_alpha_slopes_are_one_least_squares_slope_per_architecture_and_seed() -> None:
    frame = pd.DataFrame({"arch": ["a"] * 3 + ["b"] * 3, "seed": [0] * 6, "alpha": [-1.0, 0.0, 1.0] * 2,
                          "value": [0.0, 1.0, 4.0, 5.0, 5.0, 5.0]})
    slopes = bridge.alpha_slopes(frame, "value").set_index("arch")["slope"]
    assert slopes["a"] == pytest.approx(2.0) and slopes["b"] == pytest.approx(0.0, abs=1e-12)
    assert bridge.alpha_slopes(frame[frame["alpha"] == 0], "value").empty  # one alpha: no slope


def test_selectivity_splits_each_models_layers_into_halves() -> None:
    layers = pd.DataFrame({"arch": "a", "model": "a S", "training": "standard", "seed": 0,
                           "layer": [0, 1, 2, 3, 4], "selectivity": [0.1, 0.2, 0.3, 0.4, 0.5]})
    row = bridge.per_run_selectivity(layers).iloc[0]
    # 5 layers: the first half is layers 0-2 (index < 2.5), as the first paper's "early" layers.
    assert row["mean"] == pytest.approx(0.3) and row["early"] == pytest.approx(0.2) and row["late"] == pytest.approx(0.45)


def test_early_layer_dimensionality_takes_each_runs_own_first_half() -> None:
    """Two runs with 4 and 2 layers: the early layers are 0-1 and 0, not those of the deeper run."""
    rows = [{"model": model, "seed": 0, "perturbation": "clean", "layer": layer, "units": 8, "measure": "pca",
             "threshold": 0.95, "dimensionality": value, "corruption": None, "severity": None}
            for model, values in (("deep", [0.1, 0.3, 0.9, 0.9]), ("shallow", [0.5, 0.9])) for layer, value in enumerate(values)]
    early = early_layer_dimensionality(pd.DataFrame(rows), keys=["model", "seed"]).set_index("model")["dimensionality"]
    assert early["deep"] == pytest.approx(0.2) and early["shallow"] == pytest.approx(0.5)


def test_the_sweeps_alpha_zero_runs_are_the_pairs_standard_models() -> None:
    sweep, pairs = bridge_sweep_configs("shapes"), robust_pair_configs("shapes")
    standard = [c for c in pairs if c.adversarial_steps is None]
    assert sorted((c.arch, c.seed) for c in sweep if c.alpha == 0) == sorted((c.arch, c.seed) for c in standard)
    assert all(c in standard for c in sweep if c.alpha == 0)  # the same configs: trained once
    assert sorted({c.alpha for c in sweep}) == [-1.0, 0.0, 1.0]
    with pytest.raises(SelrobError, match="digits has no bridge sweep; choose one of: shapes"):
        bridge_sweep_configs("digits")


def test_the_bridge_is_a_study_with_notebook_15_and_every_claim_on_a_figure() -> None:
    study = studies()["bridge"]
    assert [n.stem for n in study.notebooks] == ["15_bridge"] and study.datasets == ("shapes",)
    shown = {key for figure in study.figures for key in figure.claims}
    assert shown == {claim.key for claim in CLAIMS}


NOTEBOOK_15 = Path(__file__).resolve().parents[1] / "notebooks" / "15_bridge.ipynb"


@pytest.mark.slow
def test_notebook_15_draws_every_figure_and_answers_every_question_on_the_smoke_study(
        evaluated_smoke_bridge: Path, tmp_path: Path) -> None:
    figures = tmp_path / "figures"
    parameters = {"dataset": "shapes", "smoke": True, "runs_dir": str(evaluated_smoke_bridge), "figures_dir": str(figures)}
    with left_as_found(evaluated_smoke_bridge):
        executed = json.loads(execute_notebook(NOTEBOOK_15, tmp_path / "out", parameters).read_text())
    printed = "".join(text for cell in executed["cells"] for output in cell.get("outputs", [])
                      for text in [*output.get("text", []), *output.get("data", {}).get("text/markdown", [])])
    assert f"Of {len(CLAIMS)} claims:" in printed and "skipped" not in printed and "left out" not in printed
    assert all(output["output_type"] != "error" for cell in executed["cells"] for output in cell.get("outputs", []))
    study = studies()["bridge"]
    written = sorted(p.name for p in figures.iterdir())
    assert {figure_of(name, study.figures) for name in written} == set(study.figures)
    assert len(written) == 2 * len(study.figures) and all("_shapes_pairs_smoke_runs_dir-" in name for name in written)


@pytest.mark.slow
def test_the_smoke_claims_have_a_verdict_and_a_fragility_each(evaluated_smoke_bridge: Path) -> None:
    from selrob.pipeline.reproduce import ReproduceOptions

    table, markdown = studies()["bridge"].claims(ReproduceOptions(smoke=True, runs_dir=evaluated_smoke_bridge), None, None)
    assert list(table["claim"]) == [claim.key for claim in CLAIMS]
    allowed = {INCONCLUSIVE, SUPPORTS, "contradicts", *(a for claim in CLAIMS for a in (claim.answers or ()))}
    assert set(table["verdict"]) <= allowed
    assert "alpha in {-1, 0, 1} x 2 seeds" in markdown and "not on ImageNet or CIFAR-10" in markdown


@pytest.mark.slow  # a notebook kernel: kept out of the guard's fast tests
def test_notebook_15_says_which_side_applies_on_cifar10(tmp_path: Path) -> None:
    """CIFAR-10 has no S / R pairs and, without a trained sweep, nothing to show: two lines, no traceback."""
    parameters = {"dataset": "cifar10", "runs_dir": str(tmp_path / "runs"), "figures_dir": str(tmp_path / "figures")}
    text = execute_notebook(NOTEBOOK_15, tmp_path / "out", parameters).read_text()
    assert "Part 1 (robust vs standard) skipped: dataset 'cifar10' has no standard / robust pairs" in text
    assert "Part 2 (along alpha) skipped:" in text and "selrob sweep --dataset cifar10" in text
    assert "Traceback" not in text and not (tmp_path / "figures").exists()


@pytest.mark.slow  # a notebook kernel: kept out of the guard's fast tests
def test_notebook_15_says_what_to_get_for_the_zoo_pairs_and_that_imagenet_has_no_sweep(tmp_path: Path) -> None:
    """On ImageNet part 1 needs the zoo's pairs and the validation files, part 2 an alpha sweep that
    ImageNet does not have here: one line each, no traceback, no figure."""
    parameters = {"dataset": "imagenet", "runs_dir": str(tmp_path / "runs"), "data_dir": str(tmp_path / "data"),
                  "figures_dir": str(tmp_path / "figures")}
    text = execute_notebook(NOTEBOOK_15, tmp_path / "out", parameters).read_text()
    assert "Part 1 (robust vs standard) skipped: no zoo pair of alexnet, googlenet, resnet50 has both models" in text
    assert "selrob zoo download all" in text and "ILSVRC2012_img_val.tar" in text
    assert "Part 2 (along alpha) skipped: dataset 'imagenet' is test-only here" in text
    assert "Traceback" not in text and not (tmp_path / "figures").exists()


def test_runs_near_chance_are_named_in_the_report() -> None:
    from selrob.studies.bridge import near_chance

    runs = pd.DataFrame({"run_dir": ["a", "b", "a"], "model": ["alexnet_small alpha 1", "resnet20 alpha 0"] + ["alexnet_small alpha 1"],
                         "seed": [0, 1, 0], "test_accuracy": [0.12, 0.9, 0.12]})
    assert near_chance(runs, "shapes")[1].startswith(
        "Runs below twice chance test accuracy (0.200): alexnet_small alpha 1 seed 0 (0.120). They are measured")
    assert near_chance(runs[runs["test_accuracy"] > 0.5], "shapes") == []


def test_the_sweep_accuracy_line_gives_each_architecture_and_alpha_its_range_over_seeds() -> None:
    from selrob.studies.bridge import sweep_accuracy

    sweep = pd.DataFrame({"arch": ["resnet20"] * 4 + ["alexnet_small"] * 2, "alpha": [1.0, 1.0, -1.0, -1.0, 0.0, 0.0],
                          "seed": [0, 1, 0, 1, 0, 1], "test_accuracy": [0.342, 0.507, 0.9, 0.9001, 0.97, 0.98]})
    assert sweep_accuracy(sweep, "shapes") == (
        "Test accuracy of the alpha sweep on the shapes test set, min-max of 2 seeds: alexnet_small: alpha 0 "
        "0.970-0.980; resnet20: alpha -1 0.900, alpha 1 0.342-0.507.")


def test_the_report_says_what_the_rows_along_alpha_compare_when_the_manipulation_check_fails() -> None:
    from selrob.studies.bridge import manipulation_check

    table = pd.DataFrame({"claim": ["robust_selectivity", "alpha_selectivity"], "verdict": ["more", "inconclusive"]})
    assert "is inconclusive here" in manipulation_check(table)[1] and "regularizer strengths" in manipulation_check(table)[1]
    assert manipulation_check(table.assign(verdict=["more", "supports"])) == []
    assert manipulation_check(table.iloc[:1]) == []


def test_an_architecture_outside_the_sweep_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SelrobError, match="the alpha sweep of shapes has no architecture vgg; it has alexnet_small, resnet20"):
        bridge.load_alpha_sweep("shapes", ["resnet20", "vgg"], runs_root=tmp_path)
