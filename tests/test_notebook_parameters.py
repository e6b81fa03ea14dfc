"""Notebook parameters: converted like the CLI's, one clear last line under papermill for bad ones,
and figure names that every figure-changing parameter alters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from selrob.errors import SelrobError
from selrob.notebook_parameters import (
    NOT_IN_FIGURES, TRAINING, NotebookParameters, convert, declared_parameters, notebook_parameters,
)
from selrob.pipeline.notebooks import notebook_paths

NOTEBOOKS = [path.stem for path in notebook_paths()]


def declared(notebook: str, name: str):  # type: ignore[no-untyped-def]
    return declared_parameters(notebook)[name]


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("alpha", -1, [-1.0]), ("alpha", "-0.4", [-0.4]), ("alpha", "[-1, 0, 1]", [-1.0, 0.0, 1.0]), ("alpha", "None", None),
    ("seeds", "[1, 2]", [1, 2]),
    ("seeds", "1,2", [1, 2]), ("seeds", "0-2", [0, 1, 2]), ("seeds", 3, [3]), ("seeds", [4], [4]),
    ("smoke", "true", True), ("dataset", "cifar10", "cifar10"),
])
def test_values_convert_in_the_forms_papermill_users_type(name: str, value: object, expected: object) -> None:
    assert convert(value, declared("01_selectivity_accuracy", name)) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("[alexnet_small]", ["alexnet_small"]), ("[alexnet_small, resnet20]", ["alexnet_small", "resnet20"]),
    ('["resnet20"]', ["resnet20"]), ("alexnet_small,resnet20", ["alexnet_small", "resnet20"]),
])
def test_names_in_a_list_need_no_quotes(value: str, expected: list[str]) -> None:
    assert convert(value, declared("09_shape_bias", "archs")) == expected


@pytest.mark.parametrize(("name", "value", "message"), [
    ("alpha", "abc", "parameter alpha = 'abc' is not a list[float]"),
    ("alpha", True, "parameter alpha = True is not a list[float]"),
    ("seeds", "[1, x]", "parameter seeds = '[1, x]' is not a list[int]"),
    ("seeds", "a,b", "parameter seeds = 'a,b' is not a list[int]"),
    ("seeds", "3-1", "is an empty range"),
    ("smoke", "maybe", "parameter smoke = 'maybe' is not True or False"),
    ("dataset", None, "parameter dataset = None is not allowed"),
])
def test_bad_values_name_the_parameter_the_value_and_what_is_allowed(name: str, value: object, message: str) -> None:
    with pytest.raises(SelrobError, match=message.replace("[", r"\[").replace("]", r"\]")):
        convert(value, declared("01_selectivity_accuracy", name))


def test_unknown_parameters_injected_by_papermill_are_an_error() -> None:
    namespace = {"In": ["", "# Parameters\nalpah = -1\nsmoke = True\n"], "alpah": -1, "smoke": True}
    with pytest.raises(SelrobError, match="unknown parameter 'alpah' for 01_selectivity_accuracy; it takes: dataset, arch"):
        notebook_parameters("01_selectivity_accuracy", namespace)
    namespace = {"In": ["# Parameters\nalpha = -1\n"], "alpha": -1}
    assert notebook_parameters("01_selectivity_accuracy", namespace).values["alpha"] == [-1.0]
    assert namespace["alpha"] == [-1.0] and namespace["dataset"] == "digits"  # defaults filled in, types converted


def test_training_flags_select_runs_as_the_command_line_does() -> None:
    namespace = {"In": ["# Parameters\ntraining = '--epochs 3 --max-train-samples 5000 --augmix'\n"],
                 "training": "--epochs 3 --max-train-samples 5000 --augmix"}
    parameters = notebook_parameters("01_selectivity_accuracy", namespace)
    assert parameters.overrides == {"epochs": 3, "max_train_samples": 5000, "augmix": True}
    assert (parameters.figure_name("figX", "resnet20")
            == "figX_digits_resnet20_train_epochs-3_train_max_train_samples-5000_train_augmix-True")
    # PGD-trained runs and PGD's attack steps (notebook 03) name different figures.
    attack, trained = ({**{n: p.default for n, p in declared_parameters("03_worst_case_robustness").items()}, **change}
                       for change in ({"pgd_steps": 2}, {"training": "--pgd-steps 2"}))
    names = {NotebookParameters("03", values, declared_parameters("03_worst_case_robustness")).figure_name("f", "r")
             for values in (attack, trained)}
    assert len(names) == 2, names
    for text, message in (("--epoch 3", "'--epoch' is not a training flag; allowed: --epochs, --batch-size"),
                          ("--epochs x", "argument --epochs: invalid int value: 'x'"),
                          ("--epochs", "argument --epochs: expected one argument")):
        with pytest.raises(SelrobError, match=f"training settings '{text}': {message}"):
            notebook_parameters("01_selectivity_accuracy", {"In": ["# Parameters\ntraining = ''\n"], "training": text})


def _other_value(name: str, kind: str, default: object) -> object:
    """A valid value of parameter ``name`` of ``kind`` other than ``default``."""
    if name == TRAINING:
        return "--epochs 3"
    kind = kind.removeprefix("Optional[").removesuffix("]") if kind.startswith("Optional[") else kind
    return {"str": "other", "bool": not default, "int": 3, "float": 0.25, "list[int]": [7], "list[float]": [0.5],
            "list[str]": ["fog"]}[kind]


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_every_parameter_that_changes_a_figure_changes_its_name(notebook: str) -> None:
    parameters = declared_parameters(notebook)
    defaults = {name: p.default for name, p in parameters.items()}
    canonical = NotebookParameters(notebook, defaults, parameters).figure_name("figX", "resnet20")
    assert canonical == f"figX_{defaults['dataset']}_resnet20"
    names = {canonical}
    for name, parameter in parameters.items():
        changed = NotebookParameters(notebook, {**defaults, name: _other_value(name, parameter.kind, parameter.default)},
                                     parameters).figure_name("figX", "resnet20")
        if name in NOT_IN_FIGURES:
            assert changed == canonical, name
        elif name != "arch":  # the resolved arch is passed in; a different one names itself
            assert changed not in names, name
            names.add(changed)


def _papermill(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    notebook = Path(__file__).resolve().parents[1] / "notebooks" / "01_selectivity_accuracy.ipynb"
    return subprocess.run([sys.executable, "-m", "papermill", str(notebook), str(tmp_path / "out.ipynb"), *args],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize(("args", "last_line"), [
    (["-p", "alpha", "abc"], "SelrobError: parameter alpha = 'abc' is not a list[float]"),
    (["-p", "alpah", "-1"], "SelrobError: unknown parameter 'alpah' for 01_selectivity_accuracy; it takes: "),
])
def test_papermill_ends_with_one_clear_line_and_fails(tmp_path: Path, args: list[str], last_line: str) -> None:
    result = _papermill(tmp_path, *args)
    assert result.returncode != 0
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert lines[-1].startswith(last_line), lines[-3:]


@pytest.mark.slow
def test_non_default_parameters_never_write_the_canonical_figures(smoke_runs: Path, tmp_path: Path) -> None:
    figures = tmp_path / "figures"
    result = _papermill(tmp_path, "-p", "smoke", "True", "-p", "runs_dir", str(smoke_runs), "-p", "figures_dir",
                        str(figures), "-y", "seeds: [1]")
    assert result.returncode == 0, result.stderr[-2000:]
    written = sorted(p.name for p in figures.iterdir())
    assert written and all("_smoke_seeds-1_runs_dir-" in name for name in written), written


@pytest.mark.slow
def test_papermill_shows_runs_trained_with_overrides(tmp_path: Path) -> None:
    # A laptop's reduced sweep: one epoch (tested on a smoke run's 200 images); the notebook selects
    # it with the same flags, on its first 100 test images (a run tested on more serves), and a
    # list of alphas.
    runs = tmp_path / "runs"
    trained = subprocess.run([sys.executable, "-m", "selrob", "sweep", "--smoke", "--alpha", "0", "1", "--seeds", "0",
                              "--epochs", "1", "--workers", "1", "--runs-dir", str(runs)],
                             capture_output=True, text=True, timeout=300)
    assert trained.returncode == 0, trained.stderr[-2000:]
    figures = tmp_path / "figures"
    result = _papermill(tmp_path, "-p", "smoke", "True", "-p", "seeds", "[0]", "-p", "alpha", "[0, 1]",
                        "-p", "training", "--epochs 1 --max-eval-samples 100", "-p", "runs_dir", str(runs),
                        "-p", "figures_dir", str(figures))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2 runs of digits / resnet20" in (tmp_path / "out.ipynb").read_text()
    written = sorted(p.name for p in figures.iterdir())
    assert written and all("_alpha0+1_smoke_" in name and "_train_epochs-1_train_max_eval_samples-100" in name
                           for name in written), written


def test_notebooks_run_by_papermill_get_text_bars(monkeypatch: pytest.MonkeyPatch) -> None:
    import tqdm.std

    from selrob import progress

    monkeypatch.setattr(progress, "_text_only", False)
    notebook_parameters("01_selectivity_accuracy", {"In": ["", "# Parameters\nsmoke = True\n"], "smoke": True})
    assert progress._text_only
    with progress.progress_bar(total=1, disable=True) as bar:
        assert type(bar) is tqdm.std.tqdm


@pytest.mark.parametrize(("name", "value"), [("samples", 1.5), ("samples", "2.7"), ("samples", True)])
def test_integers_are_never_truncated(name: str, value: object) -> None:
    with pytest.raises(SelrobError, match=f"parameter samples = {value!r} is not an integer"):
        convert(value, declared("05_unit_gradient_variability", name))
    with pytest.raises(SelrobError, match="is not a list\\[int\\]"):
        convert("[1, 2.7]", declared("01_selectivity_accuracy", "seeds"))


def test_figure_names_tell_apart_what_a_short_format_would_merge() -> None:
    from selrob import paths

    parameters = declared_parameters("02_average_case_robustness")
    defaults = {name: p.default for name, p in parameters.items()}

    def name(**changes: object) -> str:
        return NotebookParameters("02", {**defaults, **changes}, parameters).figure_name("figX", "resnet20")

    assert name(alpha=[0.1234567]) != name(alpha=[0.1234568])
    assert name(alpha=[-0.4]) == "figX_digits_resnet20_alpha-0.4" and name(alpha=[-1.0]) == "figX_digits_resnet20_alpha-1"
    assert name(alpha=[-1.0, 0.0, 1.0]) == "figX_digits_resnet20_alpha-1+0+1" == name(alpha=[1.0, -1.0, 0.0, 0.0])
    assert name(corruptions=["a-b"]) != name(corruptions=["a", "b"])
    # The default folders, passed resolved (as make reproduce does), are the defaults; another one is other data.
    assert name(runs_dir=str(paths.runs_dir()), data_dir=str(paths.data_dir())) == "figX_digits_resnet20"
    assert name(runs_dir="/elsewhere/runs").startswith("figX_digits_resnet20_runs_dir-")


def test_kernels_that_papermill_or_nbclient_drive_get_text_bars(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from selrob import progress

    for allow_stdin, text in ((True, False), (False, True)):
        monkeypatch.setattr(progress, "_text_only", False)
        shell = SimpleNamespace(kernel=SimpleNamespace(_allow_stdin=allow_stdin))
        notebook_parameters("01_selectivity_accuracy", {"get_ipython": lambda shell=shell: shell})
        assert progress._text_only is text
