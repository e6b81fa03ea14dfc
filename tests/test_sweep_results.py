"""Sweeps (local processes and submitit's local executor) and the results table."""

from __future__ import annotations

from pathlib import Path

import pytest

from selrob.errors import SelrobError
from selrob.tables.runs import LAYER_COLUMNS, RUN_COLUMNS, load_results, load_sweep
from selrob.config import sweep_configs
from selrob.pipeline.sweep import run_sweep

TINY = dict(epochs=1, milestones=(1,), max_train_samples=64, max_eval_samples=50)


def test_sweep_grid() -> None:
    assert len(sweep_configs("digits")) == 15
    assert len(sweep_configs("cifar10")) == 13 * 20
    assert [c.alpha for c in sweep_configs("digits", alphas=-1, seeds=[4])] == [-1.0]
    assert {c.seed for c in sweep_configs("digits", seeds=range(2))} == {0, 1}


@pytest.mark.slow
def test_submitit_local_executor_trains_every_run(tmp_path: Path) -> None:
    configs = sweep_configs("digits", alphas=[-1.0, 1.0], seeds=[0], **TINY)
    runs = run_sweep(configs, executor="submitit-local", runs_root=tmp_path, progress=False)
    assert all(run.is_finished() for run in runs)
    assert list((tmp_path / "_submitit").iterdir())  # submitit's job folder with logs


@pytest.mark.slow
def test_local_workers_train_every_run_and_skip_finished_ones(tmp_path: Path) -> None:
    configs = sweep_configs("digits", alphas=[0.0], seeds=[0, 1], **TINY)
    runs = run_sweep(configs, workers=2, runs_root=tmp_path, progress=False)
    assert all(run.is_finished() for run in runs)
    stamps = [run.summary_path.stat().st_mtime_ns for run in runs]
    run_sweep(configs, workers=2, runs_root=tmp_path, progress=False)
    assert stamps == [run.summary_path.stat().st_mtime_ns for run in runs]


def test_load_results_is_one_tidy_row_per_run(smoke_runs: Path) -> None:
    frame = load_results(smoke_runs)  # the 3 x 2 smoke grid, 2 AugMix and 2 PGD-trained runs at alpha 0
    assert set(RUN_COLUMNS) <= set(frame.columns)
    assert len(frame) == 10 and sorted(frame["alpha"].unique()) == [-1.0, 0.0, 1.0]
    assert frame["augmix"].sum() == 2 and frame.loc[frame["augmix"], "alpha"].eq(0).all()
    assert frame["pgd_steps"].eq(1).sum() == 2 and frame.loc[frame["pgd_steps"].eq(1), "alpha"].eq(0).all()
    assert frame.groupby(["augmix", "pgd_steps"], dropna=False)["protocol"].nunique().tolist() == [1, 1, 1]
    assert len(load_results(smoke_runs, alpha=-1)) == 2
    assert len(load_results(smoke_runs, seeds=[0], dataset="digits", arch="resnet20")) == 5
    assert load_results(smoke_runs, dataset="cifar10").empty
    layers = load_results(smoke_runs, layers=True)
    assert list(layers.columns) == LAYER_COLUMNS and len(layers) == 10 * 19


def test_regularizer_orders_selectivity_even_in_smoke_runs(smoke_runs: Path) -> None:
    frame = load_results(smoke_runs)
    by_alpha = frame[~frame["augmix"] & frame["pgd_steps"].isna()].groupby("alpha")["mean_selectivity"].mean()
    assert by_alpha[-1.0] < by_alpha[0.0] < by_alpha[1.0]


def test_load_sweep_names_the_command_for_missing_runs(smoke_runs: Path) -> None:
    results = load_sweep("digits", smoke=True, runs_root=smoke_runs)
    assert len(results.runs) == 6 and len(results.layers) == 6 * 19
    assert len(load_sweep("digits", alpha=1, smoke=True, runs_root=smoke_runs).runs) == 2
    with pytest.raises(SelrobError, match=r"15 of 15 runs are not trained yet; train them with: selrob sweep --dataset digits"):
        load_sweep("digits", runs_root=smoke_runs)
    with pytest.raises(SelrobError, match=rf"--alpha 0 --seeds 0 1 --smoke --augmix --epochs 3 --runs-dir {smoke_runs}$"):
        load_sweep("digits", alpha=0, smoke=True, runs_root=smoke_runs, augmix=True, epochs=3)


def test_corrupt_summary_is_a_clear_error(tmp_path: Path) -> None:
    configs = sweep_configs("digits", alphas=[0.0], seeds=[0], **TINY)
    run = run_sweep(configs, workers=1, runs_root=tmp_path, progress=False)[0]
    run.summary_path.write_text("{not json")
    with pytest.raises(SelrobError, match="summary.json is corrupt"):
        load_results(tmp_path)
    assert run.summary_path.read_text() == "{not json"  # left for the user to inspect or delete
