"""Per-run accuracy on a -C set: equal to a direct evaluation, cached, resumable, and the results
table built from it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from selrob.data.corrupted import CorruptedSet
from selrob.errors import SelrobError
from selrob.evaluations import EvaluationContext, EvaluationSettings
from selrob.evaluations.corruptions import CorruptedSetChoice, corruption_entry, evaluate_corruptions
from selrob.measures.evaluate import evaluate_accuracy
from selrob.store.cache import missing_cells
from selrob.store.runs import Run
from selrob.tables.aggregates import corruption_means, with_clean_accuracy
from selrob.tables.evaluations import evaluation_table
from selrob.tables.runs import load_sweep

NAMES = ["gaussian_noise", "fog"]


def choosing(corruptions: list[str]) -> EvaluationSettings:
    """Settings whose corruption evaluations read only ``corruptions`` of the -C set."""
    return EvaluationSettings(parameters={"corrupted_set": CorruptedSetChoice(corruptions=corruptions)})


SETTINGS = choosing(NAMES)
COLUMNS = ["dataset", "arch", "protocol", "alpha", "seed", "corruption", "severity", "accuracy", "clean_accuracy",
           "normalized_accuracy"]


def corruption_table(runs: pd.DataFrame, settings: EvaluationSettings = SETTINGS, evaluate: bool = True) -> pd.DataFrame:
    return with_clean_accuracy(evaluation_table("corruptions", runs, settings, evaluate=evaluate, progress=False), runs)


@pytest.fixture(scope="module")
def smoke_table(smoke_runs: Path, digits_c: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    runs = load_sweep("digits", smoke=True, runs_root=smoke_runs).runs
    return runs, corruption_table(runs)


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
    assert list(table.columns) == COLUMNS
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
    context = EvaluationContext("digits", SETTINGS)
    assert corruption_entry(run, context).path.is_file()

    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded although every cell is cached")

    monkeypatch.setattr(Run, "load_model", no_model)
    cells = evaluate_corruptions(run, context)
    assert sorted(cells) == sorted(NAMES) and all(sorted(c) == [1, 2, 3, 4, 5] for c in cells.values())
    pd.testing.assert_frame_equal(corruption_table(runs, evaluate=False), table)


def test_an_interrupted_evaluation_resumes_with_the_corruptions_it_lacks(
    smoke_table: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs, table = smoke_table
    run = Run(Path(runs["run_dir"].iloc[0]))
    copy = Run(tmp_path / run.name)
    shutil.copytree(run.path, copy.path, ignore=shutil.ignore_patterns("evaluations"))
    context = EvaluationContext("digits", SETTINGS)
    first = evaluate_corruptions(copy, EvaluationContext("digits", choosing(NAMES[:1])))
    assert missing_cells(corruption_entry(copy, context).cells(), NAMES) == NAMES[1:]
    loads: list[str] = []
    original = CorruptedSet.load
    monkeypatch.setattr(CorruptedSet, "load", lambda self, name, severity: loads.append(name) or original(self, name, severity))
    cells = evaluate_corruptions(copy, context)
    assert set(loads) == {NAMES[1]} and cells[NAMES[0]] == first[NAMES[0]]
    assert corruption_entry(copy, context).is_complete(NAMES)


def test_missing_cells_without_evaluation_name_the_command(
    smoke_table: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    runs, _ = smoke_table
    # A copy without evaluations: other tests (notebooks) may have evaluated the shared runs.
    copy = tmp_path / Run(Path(runs["run_dir"].iloc[0])).name
    shutil.copytree(runs["run_dir"].iloc[0], copy, ignore=shutil.ignore_patterns("evaluations"))
    with pytest.raises(SelrobError, match="selrob evaluate corruptions --dataset digits"):
        corruption_table(runs.iloc[:1].assign(run_dir=str(copy)), choosing(["snow"]), evaluate=False)
    with pytest.raises(SelrobError, match="has no rain"):
        corruption_table(runs, choosing(["rain"]))


def test_each_cell_is_read_up_to_the_datasets_limit_or_the_sources_samples() -> None:
    from types import SimpleNamespace

    from selrob.evaluations.corruptions import CELL_IMAGES, cell_images

    assert CELL_IMAGES["shapes"] == 150
    assert cell_images(SimpleNamespace(dataset="shapes", eval_samples=None)) == 150  # type: ignore[arg-type]
    assert cell_images(SimpleNamespace(dataset="shapes", eval_samples=100)) == 100  # type: ignore[arg-type]
    assert cell_images(SimpleNamespace(dataset="digits", eval_samples=None)) is None  # type: ignore[arg-type]
    assert cell_images(SimpleNamespace(dataset="imagenet", eval_samples=800)) == 800  # type: ignore[arg-type]
