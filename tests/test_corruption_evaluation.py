"""Per-run accuracy on a -C set: equal to a direct evaluation, cached, resumable, and the results
table built from it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from selrob.analysis.corruption_robustness import corruption_cache_path, evaluate_corruptions
from selrob.analysis.evaluate import evaluate_accuracy
from selrob.data.corrupted import CorruptedSet
from selrob.errors import SelrobError
from selrob.results import CORRUPTION_COLUMNS, corruption_means, load_corruption_results, load_sweep
from selrob.runs import Run

NAMES = ["gaussian_noise", "fog"]


@pytest.fixture(scope="module")
def smoke_table(smoke_runs: Path, digits_c: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    runs = load_sweep("digits", smoke=True, runs_root=smoke_runs).runs
    return runs, load_corruption_results(runs, corruptions=NAMES, progress=False)


def test_cells_equal_a_direct_evaluation_of_the_first_images(smoke_table: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    runs, table = smoke_table
    run = Run(Path(runs["run_dir"].iloc[0]))
    model = run.load_model()
    cell = CorruptedSet("digits").load("fog", 4)
    limit = run.config().max_eval_samples  # smoke runs evaluate the first 200 images, as their clean test
    direct = evaluate_accuracy(model, cell.subset(torch.arange(limit)))
    row = table[(table["seed"] == runs["seed"].iloc[0]) & (table["alpha"] == runs["alpha"].iloc[0])
                & (table["corruption"] == "fog") & (table["severity"] == 4)]
    assert row["accuracy"].item() == direct
    assert row["normalized_accuracy"].item() == pytest.approx(direct / runs["test_accuracy"].iloc[0])


def test_table_has_every_cell_of_every_run(smoke_table: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    runs, table = smoke_table
    assert list(table.columns) == CORRUPTION_COLUMNS
    assert len(table) == len(runs) * len(NAMES) * 5
    assert table["accuracy"].between(0, 1).all()
    assert sorted(table["severity"].unique()) == [1, 2, 3, 4, 5]
    assert (table.groupby(["alpha", "seed"])["clean_accuracy"].nunique() == 1).all()


def test_means_are_the_mean_over_cells(smoke_table: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, table = smoke_table
    means = corruption_means(table)
    first = means.iloc[0]
    cells = table[(table["alpha"] == first["alpha"]) & (table["seed"] == first["seed"])]
    assert first["mean_corrupted_accuracy"] == pytest.approx(cells["accuracy"].sum() / 10)
    assert first["mean_normalized_accuracy"] == pytest.approx(cells["normalized_accuracy"].mean())
    assert len(means) == table.groupby(["alpha", "seed"]).ngroups


def test_cached_cells_are_not_recomputed(smoke_table: tuple[pd.DataFrame, pd.DataFrame], monkeypatch: pytest.MonkeyPatch) -> None:
    runs, table = smoke_table
    run = Run(Path(runs["run_dir"].iloc[1]))
    corrupted = CorruptedSet("digits")
    assert corruption_cache_path(run, corrupted).is_file()

    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded although every cell is cached")

    monkeypatch.setattr(Run, "load_model", no_model)
    cells = evaluate_corruptions(run, corrupted, NAMES, progress=False)
    assert sorted(cells) == sorted(NAMES) and all(sorted(c) == [1, 2, 3, 4, 5] for c in cells.values())
    again = load_corruption_results(runs, corruptions=NAMES, evaluate=False)
    pd.testing.assert_frame_equal(again, table)


def test_missing_cells_without_evaluation_name_the_command(
    smoke_table: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    runs, _ = smoke_table
    # A copy without evaluations: other tests (notebooks) may have evaluated the shared runs.
    copy = tmp_path / "run"
    shutil.copytree(runs["run_dir"].iloc[0], copy, ignore=shutil.ignore_patterns("evaluations"))
    with pytest.raises(SelrobError, match="selrob evaluate-c --dataset digits"):
        load_corruption_results(runs.iloc[:1].assign(run_dir=str(copy)), corruptions=["snow"], evaluate=False)
    with pytest.raises(SelrobError, match="has no rain"):
        load_corruption_results(runs, corruptions=["rain"])
