"""The evaluation registry and the stage: the main job's plan fills, in worker processes, exactly the
caches the notebooks read; a new evaluation needs one registration; jobs follow declared fills."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from selrob import cli
from selrob.errors import SelrobError
from selrob.evaluations import EVALUATIONS, Evaluation, EvaluationContext, EvaluationSettings, evaluation_order
from selrob.evaluations import corruptions, fgsm, jacobian, pgd
from selrob.attacks import attack_settings
from selrob.evaluations.dimensionality import DIMENSIONALITY
from selrob.evaluations.pgd import attack_of
from selrob.measures.representations import DimensionalitySettings
from selrob.pipeline.stage import EvaluationPlan, evaluate_plan, plan_jobs
from selrob.store.cache import CacheEntry
from selrob.store.runs import Run
from selrob.store.sources import ModelSource
from selrob.studies.selectivity import GRID_EVALUATIONS, reproduce_plan
from selrob.tables.evaluations import evaluation_table, evaluation_tables
from selrob.tables.runs import load_sweep
from support.studies import copied_study


def test_reproduce_plan_fills_every_cache_the_notebooks_read(evaluated_smoke_runs: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The shared fixture evaluated exactly this plan (``selectivity.plan``) on a fresh copy of the
    smoke sweep; every table the notebooks and the claims read is then in the caches."""
    root = evaluated_smoke_runs
    plan = reproduce_plan("digits", smoke=True, runs_root=root)
    assert {name: len(sources) for name, sources in plan.evaluations.items()} == {
        **{name: 6 for name in GRID_EVALUATIONS}, "corruptions": 8}
    assert len(plan.pairings["gradient-masking"]) == 8

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("a notebook would recompute this")

    for module, name in ((fgsm, "fgsm_correct"), (pgd, "pgd_attack"), (jacobian, "input_output_jacobian_norm"),
                         (corruptions, "evaluate_accuracy")):
        monkeypatch.setattr(module, name, fail)
    monkeypatch.setattr(Run, "load_model", fail)
    sweep = load_sweep("digits", smoke=True, runs_root=root).runs
    augmix = load_sweep("digits", alpha=0.0, smoke=True, runs_root=root, augmix=True).runs
    # The settings the notebooks build from their default parameters (smoke = True).
    attack = attack_settings("digits", None, None, None, None, False, True)  # notebook 03
    settings = EvaluationSettings(parameters={"attack": attack})
    dimensionality = EvaluationSettings(parameters={"attack": attack_settings("digits", pgd_steps=None, smoke=True),  # notebook 04
                                                    "dimensionality": DimensionalitySettings((0.9, 0.95, 0.99), 0.9)})

    def rows(name: str, runs: pd.DataFrame = sweep, **options: Any) -> int:
        return len(evaluation_table(name, runs, settings, evaluate=False, progress=False, **options))

    assert rows("fgsm") == 6 * len(attack.fgsm_epsilons)
    assert rows("pgd") == 6 * (attack.pgd_steps + 1)
    assert rows("jacobian") == 6
    assert rows("gradient-masking", sources=sweep[sweep["alpha"] == 0]) == 8 * (attack.pgd_steps + 1)
    # Per run and layer: clean, 95 corruption cells and PGD, each with 3 PCA thresholds and TwoNN.
    table = evaluation_tables(DIMENSIONALITY, sweep, dimensionality, evaluate=False, progress=False)
    assert len(table) == 6 * 19 * (1 + 19 * 5 + 1) * 4
    assert rows("unit-gradients") == 6 * 19
    for runs in (sweep, augmix):
        assert rows("corruptions", runs) == len(runs) * 19 * 5
    # The claims report reads only these caches too.
    from selrob.pipeline.reproduce import ReproduceOptions
    from selrob.studies.selectivity import SELECTIVITY
    from selrob.tables.claims import CONTRADICTS, INCONCLUSIVE, SUPPORTS

    claims, markdown = SELECTIVITY.claims(ReproduceOptions(smoke=True, runs_dir=root), None)
    assert len(claims) == 17 and set(claims["verdict"]) <= {SUPPORTS, CONTRADICTS, INCONCLUSIVE}
    assert (claims["ci_low"] <= claims["effect"]).all() and (claims["effect"] <= claims["ci_high"]).all()
    assert "tested on the digits sweep (smoke)" in markdown and "Of 17 claims:" in markdown


def test_a_missing_cached_result_names_the_command_that_computes_it(smoke_runs: Path, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    copied_study(smoke_runs, root)
    sweep = load_sweep("digits", alpha=0.0, smoke=True, runs_root=root).runs
    with pytest.raises(SelrobError, match="has no cached jacobian yet; compute it with `selrob evaluate jacobian --dataset digits`"):
        evaluation_table("jacobian", sweep, evaluate=False, progress=False)
    with pytest.raises(SelrobError, match="unknown evaluation 'jacobean'; choose one of: .*jacobian"):
        evaluation_table("jacobean", sweep)


def _dummy(name: str, fills: tuple[str, ...] = (), log: list[str] | None = None) -> Evaluation:
    """An evaluation defined here alone: the mean pixel of the source's test images, cached."""

    def entry(source: ModelSource, context: EvaluationContext) -> CacheEntry:
        return CacheEntry(source.evaluations_dir, name, {"measure": "mean pixel"})

    def evaluate(source: ModelSource, context: EvaluationContext) -> float:
        def compute() -> float:
            if log is not None:
                log.append(name)
            return float(source.test_set(context.data_root).images.float().mean())

        return entry(source, context).get_or_compute(compute)

    def rows(result: float, context: EvaluationContext) -> Iterator[dict[str, Any]]:
        yield {"mean_pixel": result}

    return Evaluation(name=name, description="mean pixel of the test images", columns=("mean_pixel",),
                      value="mean_pixel", evaluate=evaluate, rows=rows,
                      is_cached=lambda source, context: entry(source, context).exists(), fills=fills)


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, Evaluation]:
    """The registry, restored after the test (dummies registered in it leave with it)."""
    monkeypatch.setattr("selrob.evaluations.registry.EVALUATIONS", dict(EVALUATIONS))
    from selrob.evaluations import registry as module

    return module.EVALUATIONS


def test_a_registered_evaluation_is_computed_cached_tabled_and_run_by_the_cli(
    registry: dict[str, Evaluation], smoke_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from selrob.evaluations.registry import register

    root = tmp_path / "runs"
    copied_study(smoke_runs, root)
    log: list[str] = []
    register(_dummy("mean-pixel", log=log))
    with pytest.raises(SelrobError, match="registered already"):
        register(_dummy("mean-pixel"))
    runs = [Run(Path(p)) for p in load_sweep("digits", smoke=True, runs_root=root).runs["run_dir"]]
    evaluate_plan(EvaluationPlan({"mean-pixel": runs}), workers=1, progress=False)
    assert log == ["mean-pixel"] * 6
    assert all(list(run.evaluations_dir.glob("mean-pixel-*.json")) for run in runs)
    table = evaluation_table("mean-pixel", runs, evaluate=False, progress=False)
    assert list(table.columns) == ["dataset", "arch", "protocol", "alpha", "seed", "mean_pixel"]
    assert len(table) == 6 and table["mean_pixel"].between(1, 255).all()
    assert sorted(table["alpha"].unique()) == [-1.0, 0.0, 1.0]
    output = tmp_path / "mean-pixel.csv"
    assert cli.main(["evaluate", "mean-pixel", "--smoke", "--runs-dir", str(root), "--output", str(output)]) == 0
    assert log == ["mean-pixel"] * 6  # read from the cache
    assert "mean-pixel: mean pixel of the test images; 6 rows" in capsys.readouterr().out
    pd.testing.assert_frame_equal(pd.read_csv(output, dtype={"protocol": str}), table, check_dtype=False)


def test_the_stage_orders_jobs_from_declared_cache_fills(
    registry: dict[str, Evaluation], smoke_runs: Path, tmp_path: Path
) -> None:
    from selrob.evaluations.registry import register

    root = tmp_path / "runs"
    copied_study(smoke_runs, root)
    runs = [Run(Path(p)) for p in load_sweep("digits", alpha=0.0, smoke=True, runs_root=root).runs["run_dir"]]
    log: list[str] = []
    # "second" is registered first; its declared fill puts "first" before it anyway.
    register(_dummy("second", log=log))
    register(_dummy("first", fills=("second",), log=log))
    assert evaluation_order(["second", "first"]) == ["first", "second"]
    plan = EvaluationPlan({"second": runs[:1], "first": runs[1:]})
    assert [job.names for job in plan_jobs(plan)] == [("first",), ("second",)]
    evaluate_plan(plan, workers=1, progress=False)
    assert log == ["first", "second"]

    # Declared the other way round, the order turns.
    registry["first"] = _dummy("first", log=log)
    registry["second"] = _dummy("second", fills=("first",), log=log)
    assert evaluation_order(["first", "second"]) == ["second", "first"]
    assert [job.names for job in plan_jobs(plan)] == [("second",), ("first",)]
    both = EvaluationPlan({"first": runs, "second": runs})
    assert {job.names for job in plan_jobs(both)} == {("second", "first")}

    registry["first"] = _dummy("first", fills=("second",))
    with pytest.raises(SelrobError, match="in a cycle"):
        evaluation_order(["first", "second"])


def test_the_project_registry_orders_the_passes_that_fill_other_caches_first() -> None:
    order = evaluation_order(EVALUATIONS)
    assert order.index("dimensionality-pgd") < order.index("pgd")
    assert order.index("gradient-masking") < order.index("pgd")
    assert order.index("dimensionality-corruptions") < order.index("corruptions")
    assert set(order) == set(EVALUATIONS)


def test_a_run_outside_the_folder_layout_is_keyed_by_its_configuration(smoke_runs: Path, tmp_path: Path) -> None:
    original = Run(Path(load_sweep("digits", alpha=1.0, seeds=1, smoke=True, runs_root=smoke_runs).runs["run_dir"][0]))
    moved = Run(tmp_path / "my-run")
    shutil.copytree(original.path, moved.path, ignore=shutil.ignore_patterns("evaluations"))
    assert moved.identity == original.identity and moved.seed == 1 and moved.dataset == "digits"
    settings = EvaluationSettings(parameters={"attack": attack_of(EvaluationContext("digits", EvaluationSettings(smoke=True)))})
    ours = evaluation_table("pgd", [moved], settings, progress=False)
    theirs = evaluation_table("pgd", [original], settings, progress=False)
    pd.testing.assert_frame_equal(ours, theirs)


def test_empty_selections_give_empty_tables_with_their_columns(tmp_path: Path) -> None:
    from selrob.tables.aggregates import corruption_means, with_clean_accuracy
    from selrob.tables.runs import load_results

    runs = load_results(tmp_path / "nothing")
    table = with_clean_accuracy(evaluation_table("corruptions", runs, progress=False), runs)
    assert table.empty and {"corruption", "severity", "accuracy", "clean_accuracy", "normalized_accuracy"} <= set(table)
    assert corruption_means(table).empty
    assert list(evaluation_table("gradient-masking", runs, progress=False).columns)[-2:] == ["step", "accuracy"]


REGISTERING_MODULE = '''
from selrob.evaluations.registry import Evaluation, register
from selrob.store.cache import CacheEntry


def evaluate(source, context):
    entry = CacheEntry(source.evaluations_dir, "label-count", {"measure": "labels"})
    return entry.get_or_compute(lambda: int(source.test_set(context.data_root).labels.numel()))


register(Evaluation(name="label-count", description="test labels", columns=("labels",), value="labels",
                    evaluate=evaluate, rows=lambda result, context: [{"labels": result}],
                    is_cached=lambda source, context: False))
'''


def test_an_evaluation_registered_by_any_importable_module_runs_in_worker_processes(
    registry: dict[str, Evaluation], smoke_runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    (tmp_path / "label_count_evaluation.py").write_text(REGISTERING_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))  # spawned workers start with the parent's sys.path
    module = importlib.import_module("label_count_evaluation")
    monkeypatch.delitem(__import__("sys").modules, module.__name__)  # imported anew by the next test
    root = tmp_path / "runs"
    copied_study(smoke_runs, root)
    runs = [Run(Path(p)) for p in load_sweep("digits", smoke=True, runs_root=root).runs["run_dir"]]
    evaluate_plan(EvaluationPlan({"label-count": runs}), workers=2, progress=False)
    assert all(list(run.evaluations_dir.glob("label-count-*.json")) for run in runs)
    assert evaluation_table("label-count", runs, progress=False)["labels"].tolist() == [200] * 6
