"""Every numbered notebook: one typed `parameters` cell, no outputs, runs on the smoke sweep."""

from __future__ import annotations

import json
from pathlib import Path

import papermill
import pytest

from support.studies import left_as_found
from selrob.pipeline.figures import PER_PAIRS, figure_of
from selrob.pipeline.notebooks import execute_notebook, notebook_paths
from selrob.studies import studies

NOTEBOOKS = notebook_paths()
#: Each notebook's study declares the parameters it must have (notebook 07, PGD training at alpha
#: = 0, has no alpha).
REQUIRED = {notebook.stem: notebook.parameters for study in studies().values() for notebook in study.notebooks}
WITHOUT_ALPHA = {stem for stem, parameters in REQUIRED.items() if "alpha" not in parameters}
# Figure A15 needs Tiny ImageNet runs and ImageNet-A: on digits notebook 08 says so and draws nothing.
SKIPS_ON_DIGITS = {"08_natural_adversarial"}
SELECTIVITY = {notebook.stem for notebook in studies()["selectivity"].notebooks}
#: Every notebook with its default parameters; the figures of one alpha (their names, the runs they
#: keep) through two notebooks only (01: per-alpha curves, 04: per-layer profiles): the parameter is
#: handled by one function (selrob.notebook_parameters), and each extra run costs CI about 12 s.
ONE_ALPHA = ("01_selectivity_accuracy", "04_dimensionality")
RUNS = [(notebook, alpha) for notebook in NOTEBOOKS if notebook.stem in SELECTIVITY for alpha in (None, -1)
        if alpha is None or notebook.stem in ONE_ALPHA]


def test_every_notebook_belongs_to_one_study() -> None:
    stems = [notebook.stem for study in studies().values() for notebook in study.notebooks]
    assert sorted(stems) == [p.stem for p in NOTEBOOKS] and len(set(stems)) == len(stems)


@pytest.mark.parametrize("study", studies().values(), ids=lambda study: study.name)
def test_the_readme_and_every_notebooks_first_cell_cite_the_paper(study) -> None:  # type: ignore[no-untyped-def]
    assert study.paper_url in (paths_root() / "README.md").read_text()
    for notebook in study.notebooks:
        first = json.loads((paths_root() / "notebooks" / f"{notebook.stem}.ipynb").read_text())["cells"][0]
        assert first["cell_type"] == "markdown" and study.paper_url in "".join(first["source"]), notebook.stem


def paths_root() -> Path:
    return Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_code_cell_is_valid_python_and_the_first_checks_the_parameters(notebook: Path) -> None:
    import ast

    cells = [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]
    for cell in cells:
        ast.parse("".join(cell["source"]))
    assert f'selrob.notebook_parameters("{notebook.stem}", globals())' in "".join(cells[1]["source"])


@pytest.mark.slow
def test_a_notebook_runs_without_kernel_noise_on_the_terminal(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """The terminal of `make reproduce` shows progress, not what kernels log: no warning per notebook
    that the kernel talks in plain TCP (its sockets are encrypted where jupyter_client can), no
    error a kernel logs (here one it is made to log)."""
    import nbformat

    notebook = tmp_path / "tiny.ipynb"
    cells = ["print(6 * 7)", "get_ipython().kernel.log.error('kernel noise')"]
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), notebook)
    output = execute_notebook(notebook, tmp_path / "out", {})
    assert "42" in output.read_text()
    captured = capfd.readouterr()
    assert "without encryption" not in captured.err and "kernel noise" not in captured.err, captured.err
    assert "IPKernelApp" not in captured.err + captured.out, captured.err


def test_there_are_notebooks() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01_selectivity_accuracy.ipynb", "02_average_case_robustness.ipynb", "03_worst_case_robustness.ipynb",
        "04_dimensionality.ipynb", "05_unit_gradient_variability.ipynb", "06_augmix_selectivity.ipynb", "07_pgd_training_selectivity.ipynb", "08_natural_adversarial.ipynb",
        "09_shape_bias.ipynb", "10_distorted_images.ipynb", "11_smoothness.ipynb", "12_network_dissection.ipynb",
        "13_channel_ablation.ipynb", "15_bridge.ipynb",
    ]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_clean_with_one_parameters_cell(notebook: Path) -> None:
    cells = json.loads(notebook.read_text())["cells"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in cells if c["cell_type"] == "code")
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    # papermill must see every parameter (it skips lines it cannot parse) with its type and help.
    parameters = papermill.inspect_notebook(str(notebook))
    required = REQUIRED[notebook.stem]
    if notebook.stem in WITHOUT_ALPHA:
        assert "alpha" not in parameters
    assert required <= set(parameters)
    assert all(p["inferred_type_name"] != "None" and p["help"] for p in parameters.values())


@pytest.mark.slow
@pytest.mark.parametrize(("notebook", "alpha"), RUNS, ids=[f"{n.stem}-alpha{a}" for n, a in RUNS])
def test_notebook_runs_on_the_smoke_sweep(notebook: Path, alpha: int | None, evaluated_smoke_runs: Path,
                                          tmp_path: Path) -> None:
    """As in ``make reproduce``, the notebooks only read the caches the study's plan filled."""
    figures = tmp_path / "figures"
    parameters = {"dataset": "digits", "smoke": True, "runs_dir": str(evaluated_smoke_runs), "figures_dir": str(figures),
                  "alpha": alpha}
    with left_as_found(evaluated_smoke_runs):
        executed = execute_notebook(notebook, tmp_path / "out", parameters)
    assert executed.is_file()
    text = executed.read_text()
    # Progress is text under papermill: no widget placeholders, no "IProgress not found" box.
    assert "application/vnd.jupyter.widget-view+json" not in text and "IProgress not found" not in text
    if notebook.stem in SKIPS_ON_DIGITS:
        assert not figures.exists() and "Figure A15 skipped: ImageNet-A shares classes" in executed.read_text()
        return
    written = sorted(figures.iterdir())
    assert written and all(p.stat().st_size > 1000 for p in written)
    assert {p.suffix for p in written} == {".png", ".pdf"}
    selectivity = studies()["selectivity"]
    assert {figure_of(p.name, selectivity.figures) for p in written} == {
        figure for figure in selectivity.figures if figure.notebook == notebook.stem and figure.always_drawn_on("digits")}
    if alpha is not None:  # every figure drawn from runs says which alpha (the gallery uses none)
        assert all("alpha-1" in p.name for p in written if not p.name.startswith("figA1_corruption_gallery"))


@pytest.mark.slow
def test_the_shape_bias_notebook_runs_on_the_smoke_pairs(evaluated_smoke_pairs: Path, tmp_path: Path) -> None:
    figures = tmp_path / "figures"
    parameters = {"dataset": "shapes", "smoke": True, "runs_dir": str(evaluated_smoke_pairs), "figures_dir": str(figures)}
    with left_as_found(evaluated_smoke_pairs):
        text = execute_notebook(NOTEBOOK_09, tmp_path / "out", parameters).read_text()
    assert "Of 17 claims:" in text and "Traceback" not in text  # the computed findings are shown
    # Named by every parameter that changes them (here the smoke flag and the runs folder).
    written = sorted(p.name for p in figures.iterdir() if not p.name.startswith("fig_world_gallery_shapes_32px."))
    assert (figures / "fig_world_gallery_shapes_32px.png").is_file()  # the world alone: one name
    assert len(written) == 4 and all("_smoke_runs_dir-" in name for name in written)
    assert sorted(name.split("_smoke")[0] for name in written) == sorted(
        2 * ["table2_shape_bias_shapes_pairs", "fig_cue_conflict_gallery_shapes_pairs"])


NOTEBOOK_09 = paths_root() / "notebooks" / "09_shape_bias.ipynb"
SHAPE_BIAS = studies()["shape_bias"]
#: The notebooks after 09, each run on the smoke pairs (one alexnet_small pair).
PAIR_NOTEBOOKS = [notebook.stem for notebook in SHAPE_BIAS.notebooks if notebook.stem != NOTEBOOK_09.stem]
CLAIMS_SHOWN = {"10_distorted_images": 5, "11_smoothness": 2, "12_network_dissection": 4, "13_channel_ablation": 2}


@pytest.mark.slow
@pytest.mark.parametrize("stem", PAIR_NOTEBOOKS)
def test_the_pair_notebooks_run_on_the_smoke_pairs(stem: str, evaluated_smoke_pairs: Path, tmp_path: Path) -> None:
    figures = tmp_path / "figures"
    parameters = {"dataset": "shapes", "smoke": True, "runs_dir": str(evaluated_smoke_pairs), "figures_dir": str(figures)}
    with left_as_found(evaluated_smoke_pairs):
        text = execute_notebook(paths_root() / "notebooks" / f"{stem}.ipynb", tmp_path / "out", parameters).read_text()
    assert f"Of {CLAIMS_SHOWN[stem]} claims:" in text and "Traceback" not in text
    written = sorted(p.name for p in figures.iterdir())
    assert all("_smoke_runs_dir-" in name for name in written)
    # Every file is one of this notebook's registered figures, and each figure it always draws is there.
    drawn = {figure_of(name, SHAPE_BIAS.figures) for name in written}
    assert None not in drawn and {figure.notebook for figure in drawn} == {stem}
    for name in written:  # named as the figure's kind says: one file for the pairs or one per architecture
        figure = figure_of(name, SHAPE_BIAS.figures)
        assert figure is not None and name.startswith(f"{figure.id}_shapes_{'pairs' if figure.per == PER_PAIRS else 'alexnet_small'}_")
    assert {figure for figure in SHAPE_BIAS.figures if figure.notebook == stem and figure.always_drawn_on("shapes")} <= drawn
    assert len(written) == 2 * len({name.split(".")[0] for name in written})  # PNG and PDF


@pytest.mark.slow
# 09, 10 and 13 between them need every external set (11 needs none, 12 Broden, which 13 needs too);
# the load-and-skip cell is the same in all five.
@pytest.mark.parametrize(("stem", "what"), [("09_shape_bias", "Tables 1 and 2"), ("10_distorted_images", "Table 3"),
                                            ("13_channel_ablation", "Channel ablation")])
def test_the_pair_notebooks_say_what_to_get_for_the_zoo_pairs(stem: str, what: str, tmp_path: Path) -> None:
    parameters = {"dataset": "imagenet", "runs_dir": str(tmp_path / "runs"), "data_dir": str(tmp_path / "data"),
                  "figures_dir": str(tmp_path / "figures")}
    text = execute_notebook(paths_root() / "notebooks" / f"{stem}.ipynb", tmp_path / "out", parameters).read_text()
    assert f"{what} skipped: no zoo pair of alexnet, googlenet, resnet50 has both models" in text
    assert "selrob zoo download all" in text and "ILSVRC2012_img_val.tar" in text
    # Each says what it needs: 09 Geirhos et al.'s stimuli, 10 ImageNet-C, the stylized set and the
    # segmentation weights, 13 the stimuli and Broden.
    assert ("selrob data download cue-conflict" in text) == (stem in ("09_shape_bias", "13_channel_ablation"))
    assert ("selrob data download broden" in text) == (stem in ("12_network_dissection", "13_channel_ablation"))
    needs_table3 = ("selrob data download-c imagenet", "selrob data download stylized-16", "segmentation weights at")
    assert all((need in text) == (stem == "10_distorted_images") for need in needs_table3)
    assert not (tmp_path / "figures").exists()
