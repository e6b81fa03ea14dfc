"""Every numbered notebook: one typed `parameters` cell, no outputs, runs on the smoke sweep."""

from __future__ import annotations

import json
from pathlib import Path

import papermill
import pytest

from selrob.notebooks import execute_notebook, notebook_paths

NOTEBOOKS = notebook_paths()


def test_there_are_notebooks() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01_selectivity_accuracy.ipynb", "02_average_case_robustness.ipynb", "06_augmix_selectivity.ipynb"
    ]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_clean_with_one_parameters_cell(notebook: Path) -> None:
    cells = json.loads(notebook.read_text())["cells"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in cells if c["cell_type"] == "code")
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    # papermill must see every parameter (it skips lines it cannot parse) with its type and help.
    parameters = papermill.inspect_notebook(str(notebook))
    assert {"dataset", "arch", "alpha", "seeds", "smoke", "runs_dir", "figures_dir"} <= set(parameters)
    assert all(p["inferred_type_name"] != "None" and p["help"] for p in parameters.values())


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
@pytest.mark.parametrize("alpha", [None, -1])
def test_notebook_runs_on_the_smoke_sweep(
    notebook: Path, alpha: int | None, smoke_runs: Path, digits_c: Path, tmp_path: Path
) -> None:
    figures = tmp_path / "figures"
    parameters = {"dataset": "digits", "smoke": True, "runs_dir": str(smoke_runs), "figures_dir": str(figures), "alpha": alpha}
    executed = execute_notebook(notebook, tmp_path / "out", parameters)
    assert executed.is_file()
    written = sorted(figures.iterdir())
    assert written and all(p.stat().st_size > 1000 for p in written)
    assert {p.suffix for p in written} == {".png", ".pdf"}
    if alpha is not None:  # every figure drawn from runs says which alpha (the gallery uses none)
        assert all("alpha-1" in p.name for p in written if not p.name.startswith("figA1_corruption_gallery"))
