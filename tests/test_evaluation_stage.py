"""The main job's evaluation stage fills, in worker processes, exactly the caches the notebooks read."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from selrob.analysis import corruption_robustness, worst_case
from selrob.evaluation_stage import evaluate_plan, reproduce_plan
from selrob.results import (
    load_corruption_results,
    load_dimensionality_results,
    load_fgsm_results,
    load_gradient_masking_results,
    load_jacobian_results,
    load_pgd_results,
    load_sweep,
    load_unit_gradient_results,
)
from selrob.runs import Run


def test_reproduce_plan_fills_every_cache_the_notebooks_read(
    smoke_runs: Path, digits_c: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "runs"  # a copy without evaluations: other tests may have filled the shared ones
    shutil.copytree(smoke_runs, root, ignore=shutil.ignore_patterns("evaluations"))
    plan = reproduce_plan("digits", smoke=True, runs_root=root)
    assert len(plan.attacked) == 6 and len(plan.sources) == 2 and len(plan.corrupted) == 8
    evaluate_plan(plan, workers=2, progress=False)

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("a notebook would recompute this")

    for module, name in ((worst_case, "fgsm_correct"), (worst_case, "pgd_attack"),
                         (worst_case, "input_output_jacobian_norm"), (corruption_robustness, "evaluate_accuracy")):
        monkeypatch.setattr(module, name, fail)
    monkeypatch.setattr(Run, "load_model", fail)
    sweep = load_sweep("digits", smoke=True, runs_root=root).runs
    augmix = load_sweep("digits", alpha=0.0, smoke=True, runs_root=root, augmix=True).runs
    settings = plan.settings
    assert len(load_fgsm_results(sweep, settings, progress=False)) == 6 * len(settings.fgsm_epsilons)
    assert len(load_pgd_results(sweep, settings, progress=False)) == 6 * (settings.pgd_steps + 1)
    assert len(load_jacobian_results(sweep, progress=False)) == 6
    masking = load_gradient_masking_results(sweep, sweep[sweep["alpha"] == 0], settings, progress=False)
    assert len(masking) == 8 * (settings.pgd_steps + 1)
    dimensionality = load_dimensionality_results(sweep, attack=settings, progress=False)
    # Per run and layer: clean, 95 corruption cells and PGD, each with 3 PCA thresholds and TwoNN.
    assert len(dimensionality) == 6 * 19 * (1 + 19 * 5 + 1) * 4
    assert len(load_unit_gradient_results(sweep, progress=False)) == 6 * 19
    for runs in (sweep, augmix):
        assert len(load_corruption_results(runs, evaluate=False)) == len(runs) * 19 * 5
