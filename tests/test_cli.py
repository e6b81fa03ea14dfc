"""The command line: bad input gives one clear line, a non-zero exit and writes nothing."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from selrob.arguments import TRAINING_OVERRIDES, add_training_overrides, override_flags, training_overrides
from selrob.cli import build_parser, main
from selrob.config import config_field_names, resolve_config
from selrob.store.runs import Run, find_runs
from support.studies import copied_study, left_as_found


def selrob(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "selrob", *args], capture_output=True, text=True, timeout=300)


def selrob_in_process(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    """What :func:`selrob` gives, from ``selrob.cli.main`` in this process (no 7-second start-up
    of a new interpreter); argparse's errors exit through SystemExit."""
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as stopped:  # as the interpreter exits: None is 0, a message goes to stderr
        code = 0 if stopped.code is None else stopped.code if isinstance(stopped.code, int) else 1
        if isinstance(stopped.code, str):
            print(stopped.code, file=sys.stderr)
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(["selrob", *args], code, captured.out, captured.err)


def assert_one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("selrob: error: ") and fragment in lines[0]
    assert "Traceback" not in result.stderr


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*")) if folder.exists() else []


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["train", "--dataset", "mnist"], "unknown dataset 'mnist'; choose one of: digits, cifar10, tinyimagenet"),
        (["train", "--arch", "vgg16"], "unknown arch 'vgg16'"),
        (["train", "--alpha", "abc"], "argument --alpha: 'abc' is not a number"),
        (["sweep", "--alpha", "0.1", "x"], "'x' is not a number"),
        (["sweep", "--seeds", "a-b"], "is not a seed"),
        (["sweep", "--seeds", "-3"], "is not a seed"),
        (["train", "--seed", "-3"], "seed must be a non-negative integer"),
        (["sweep", "--smoke", "--executor", "kubernetes"], "unknown executor 'kubernetes'"),
        (["data", "download", "digits"], "digits ships with its package"),
        (["data", "download-c", "digits"], "digits has no official corrupted release"),
        (["data", "make-c", "--dataset", "mnist"], "no corrupted test set for dataset 'mnist'"),
        (["data", "make-c", "--corruptions", "rain"], "unknown corruption 'rain'"),
        (["train", "--augmix", "--alpha", "1"], "AugMix runs train without the selectivity regularizer"),
        (["sweep", "--seeds", "3-1"], "'3-1' is an empty range"),
        (["evaluate", "fgsm", "--alpha", "0", "--seeds", "0"], "runs are not trained yet"),
        (["evaluate", "jacobean", "--smoke"], "unknown evaluation 'jacobean'; choose one of: "),
        (["reproduce", "--study", "shape"], "unknown study 'shape'; choose all or one of: selectivity"),
        (["frobnicate"], "invalid choice"),
        (["results", "--dataset", "mnist"], "unknown dataset 'mnist'; choose one of"),
        (["results", "--arch", "vgg16"], "unknown arch 'vgg16'"),
        (["results", "--runs-dir", "/nonexistent/runs"], "runs folder /nonexistent/runs does not exist"),
        (["train", "--smoke", "--device", "tpu"], "argument --device: unknown device 'tpu'; use auto, cpu or cuda[:N]"),
        (["data"], "the following arguments are required: {download,download-c,make-c}"),
        (["claims", "--study", "shape"], "unknown study 'shape'"),
        (["claims", "--dataset", "mnist"], "no study has claims on dataset 'mnist': selectivity on digits, cifar10"),
        (["claims", "--study", "shape_bias", "--dataset", "digits"],
         "study shape_bias has no claims on dataset 'digits': shape_bias on shapes"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                                  fragment: str) -> None:
    runs = tmp_path / "runs"
    assert_one_line_error(selrob_in_process(capsys, *args, *(["--runs-dir", str(runs)] if args[0] in ("train", "sweep")
                                                              else [])), fragment)
    assert files_under(runs) == []


def test_the_command_and_each_subcommand_print_their_help(capsys: pytest.CaptureFixture[str]) -> None:
    commands = next(action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction))
    for command in [None, *commands.choices]:
        result = selrob_in_process(capsys, *([] if command is None else [command]), "--help")
        assert result.returncode == 0 and result.stdout.startswith("usage: selrob"), (command, result.stderr)
    assert "effect, 95% CI, verdict" in " ".join(selrob_in_process(capsys, "--help").stdout.split())


def test_missing_data_folder(tmp_path: Path) -> None:
    result = selrob("train", "--dataset", "cifar10", "--data-dir", str(tmp_path / "nothing"), "--runs-dir", str(tmp_path / "runs"))
    assert_one_line_error(result, "CIFAR-10 not found")
    assert "selrob data download cifar10" in result.stderr
    assert files_under(tmp_path / "runs") == []


def test_corrupt_checkpoint_is_reported_and_left_alone(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    config = resolve_config("digits", alpha=0.0, seed=0, smoke=True)
    run = Run.for_config(config, runs)
    run.path.mkdir(parents=True)
    run.last_path.write_bytes(b"this is not a checkpoint")
    result = selrob("train", "--smoke", "--runs-dir", str(runs))
    assert_one_line_error(result, "is unreadable")
    assert "delete it to restart that run" in result.stderr
    assert run.last_path.read_bytes() == b"this is not a checkpoint"
    assert files_under(runs) == [p for p in files_under(runs) if p in (run.last_path, *run.last_path.parents)]


def test_a_sweep_of_finished_runs_trains_nothing_and_says_so(smoke_runs: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    result = selrob_in_process(capsys, "sweep", "--smoke", "--runs-dir", str(smoke_runs))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"6 of 6 runs finished under {smoke_runs} (6 of them before this command)"


def test_results_command_prints_the_table(smoke_runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = selrob_in_process(capsys, "results", "--runs-dir", str(smoke_runs))
    assert result.returncode == 0, result.stderr
    assert "digits / resnet20 (protocol" in result.stdout and "6 runs" in result.stdout
    assert "digits / resnet20 with AugMix (protocol" in result.stdout and "2 runs" in result.stdout
    assert "digits / resnet20 with PGD training (1 steps) (protocol" in result.stdout
    assert len([line for line in result.stdout.splitlines() if line.strip().startswith(("-1 ", "0 ", "1 "))]) == 5


def test_evaluate_prints_the_evaluation_per_alpha(smoke_runs: Path, digits_c: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    result = selrob_in_process(capsys, "evaluate", "corruptions", "--smoke", "--runs-dir", str(smoke_runs),
                               "--corruptions", "contrast", "fog")
    assert result.returncode == 0, result.stderr
    assert "corruptions: accuracy per corruption and severity of a -C set (Figure 1, A3-A9); 60 rows of 6 runs" in result.stdout
    assert "accuracy mean over corruptions and severities, per alpha (mean and 95% CI over seeds)" in result.stdout
    per_alpha = [line.split() for line in result.stdout.splitlines() if line.strip().startswith(("-1 ", "0 ", "1 "))]
    assert [row[:2] for row in per_alpha] == [["-1", "2"], ["0", "2"], ["1", "2"]]
    assert all(0 <= float(row[2]) <= 1 for row in per_alpha)


def test_evaluate_a_pairwise_evaluation_on_some_alphas_attacks_with_the_alpha_zero_runs(
        smoke_runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = selrob_in_process(capsys, "evaluate", "gradient-masking", "--smoke", "--alpha", "1", "--runs-dir", str(smoke_runs))
    assert result.returncode == 0, result.stderr
    assert "accuracy after the last step, per alpha" in result.stdout
    assert [line.split()[:2] for line in result.stdout.splitlines() if line.strip().startswith("1 ")] == [["1", "2"]]


def test_evaluate_lists_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    result = selrob_in_process(capsys, "evaluate", "--list")
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert {"corruptions", "fgsm", "pgd", "jacobian", "gradient-masking", "dimensionality-clean", "dimensionality-pgd",
            "dimensionality-corruptions", "unit-gradients", "unit-selectivity", "natural-adversarial", "cue-conflict",
            "correct-subset", "predictions", "l2-pgd", "distorted-images",
            "corruption-predictions", "kernel-tv", "activation-tv", "stylized-sixteen", "dissection", "channel-ablation"} == set(names)


# Slow: trains in a new interpreter (10 s) and compares nothing to a tolerance (the guard has nothing to check).
@pytest.mark.slow
def test_train_command_reports_the_result(tmp_path: Path) -> None:
    result = selrob("train", "--smoke", "--alpha", "-1", "--epochs", "1", "--runs-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "test accuracy" in result.stdout and "alpha_-1.0" in result.stdout


def test_max_eval_samples_shrinks_an_evaluation_of_runs_trained_with_more(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    selecting = ["--smoke", "--alpha", "0", "--seeds", "0", "--epochs", "1", "--runs-dir", str(runs)]
    assert selrob_in_process(capsys, "sweep", *selecting, "--workers", "1").returncode == 0  # tested on 200 (smoke)
    counts = {}
    for flags in ([], ["--max-eval-samples", "100"]):
        output = tmp_path / f"predictions{len(flags)}.csv"
        result = selrob_in_process(capsys, "evaluate", "predictions", *selecting, *flags, "--output", str(output))
        assert result.returncode == 0, result.stderr
        counts[tuple(flags)] = len(pd.read_csv(output))
    assert counts == {(): 200, ("--max-eval-samples", "100"): 100}  # one row per test image
    (run,) = find_runs(runs)
    assert (run.evaluations_dir / "first-100").is_dir()  # cached apart from the run's own 200
    # Runs validated on fewer images than asked for never serve; the hint keeps the data folder.
    result = selrob_in_process(capsys, "evaluate", "predictions", *selecting, "--max-eval-samples", "300",
                               "--data-dir", str(tmp_path / "data"))
    assert_one_line_error(result, "1 of 1 runs are not trained yet")
    assert result.stderr.rstrip().endswith(f"--max-eval-samples 300 --runs-dir {runs} --data-dir {tmp_path / 'data'}")


def test_training_override_flags_are_generated_from_the_config_and_reversed_by_hints() -> None:
    assert set(TRAINING_OVERRIDES) <= set(config_field_names())
    parser = argparse.ArgumentParser()
    add_training_overrides(parser)
    overrides = {"epochs": 3, "lr": 0.05, "milestones": [1, 2], "augmix": True, "pgd_steps": 2}
    flags = override_flags(overrides)
    assert flags == " --epochs 3 --lr 0.05 --milestones 1 2 --augmix --pgd-steps 2"
    assert training_overrides(parser.parse_args(flags.split())) == overrides
    assert training_overrides(parser.parse_args([])) == {}
    for command in ("train", "sweep", "evaluate"):  # every training command has every override
        args = build_parser().parse_args([command, *(["fgsm"] if command == "evaluate" else []), "--max-eval-samples", "7"])
        assert training_overrides(args) == {"max_eval_samples": 7}


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    result = selrob_in_process(capsys, "--version")
    assert result.returncode == 0 and result.stdout.strip() == "selrob 0.1.0"


def test_hints_keep_the_users_data_folder(tmp_path: Path) -> None:
    from selrob.data.corrupted import CorruptedSet
    from selrob.errors import SelrobError

    with pytest.raises(SelrobError, match=f"make it with `selrob data make-c --dataset digits --data-dir {tmp_path}`"):
        CorruptedSet("digits", data_root=tmp_path)


def test_claims_without_cached_evaluations_name_the_command(smoke_runs: Path, digits_c: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """With the runs and the -C set in place, the first missing cache is an evaluation's."""
    copied_study(smoke_runs, tmp_path / "runs")
    result = selrob_in_process(capsys, "claims", "--smoke", "--runs-dir", str(tmp_path / "runs"))
    assert_one_line_error(result, "yet; compute it with `selrob evaluate ")


@pytest.mark.slow
def test_claims_of_a_dataset_run_the_studies_that_have_it(evaluated_smoke_runs: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """A dataset named without a study: the studies with claims on it (digits: the first paper's)."""
    with left_as_found(evaluated_smoke_runs):
        result = selrob_in_process(capsys, "claims", "--smoke", "--dataset", "digits", "--runs-dir",
                                   str(evaluated_smoke_runs))
    assert result.returncode == 0, result.stderr
    assert "tested on the digits sweep (smoke)" in result.stdout
    assert result.stdout.count("Claims of *") == 1


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and is no zombie (an exited child not yet reaped)."""
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except FileNotFoundError:
        return False


def _epochs_trained(runs: Path) -> dict[Path, int]:
    """Finished epochs of every run under ``runs`` (rows of its metrics.csv)."""
    return {path.parent: len(path.read_text().splitlines()) - 1 for path in runs.rglob("metrics.csv")}


def _spawned_workers(parent: int) -> list[str]:
    return subprocess.run(["pgrep", "-P", str(parent), "-f", "spawn_main"], capture_output=True, text=True).stdout.split()


@pytest.mark.slow
@pytest.mark.parametrize(("moment", "stop", "to"), [("while the workers import", "SIGINT", "group"),
                                                   ("while they train", "SIGTERM", "group"),
                                                   ("while they train", "SIGTERM", "caller")])
def test_ctrl_c_or_sigterm_during_a_sweep_prints_only_the_resume_message(tmp_path: Path, moment: str, stop: str,
                                                                          to: str) -> None:
    """Ctrl-C (SIGINT) and SIGTERM (Slurm, `timeout`) reach every process of the group, SIGTERM from
    `kill PID` the caller alone: the sweep stops at once, quietly, and says how to resume."""
    import os
    import signal
    import time

    process = subprocess.Popen([sys.executable, "-m", "selrob", "sweep", "--smoke", "--epochs", "30", "--workers", "2",
                                "--runs-dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    if moment == "while the workers import":  # they take seconds to import torch after they appear
        while len(_spawned_workers(process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not list(tmp_path.rglob("metrics.csv"))
    else:
        while not list(tmp_path.rglob("metrics.csv")) and time.monotonic() < deadline:
            time.sleep(0.2)
    number = getattr(signal, stop)
    workers = [int(pid) for pid in _spawned_workers(process.pid)]
    trained = _epochs_trained(tmp_path)
    if to == "group":
        os.killpg(process.pid, number)  # what the terminal, Slurm and `timeout` do: every process of the group
    else:
        process.send_signal(number)
    _, stderr = process.communicate(timeout=120)
    # The workers stopped their jobs too: no run trained on (at most the epoch it was finishing),
    # none reached its 30 epochs, and no worker is left. Counted in epochs, not seconds: a loaded
    # machine imports torch slowly.
    after = _epochs_trained(tmp_path)
    assert all(count <= trained.get(run, 0) + 1 for run, count in after.items()), (trained, after)
    assert not list(tmp_path.rglob("summary.json")) and not [pid for pid in workers if _running(pid)]
    assert process.returncode == 128 + number
    assert "Traceback" not in stderr and "leaked" not in stderr, stderr
    said = "interrupted" if stop == "SIGINT" else "stopped by SIGTERM"
    assert stderr.count(f"selrob: {said}; finished epochs and runs are saved, run the same command to resume") == 1
    assert stderr.strip().splitlines()[-1].startswith(f"selrob: {said}"), stderr


@pytest.mark.slow
def test_workers_of_a_killed_sweep_stop_instead_of_training_on(tmp_path: Path) -> None:
    import signal
    import time

    process = subprocess.Popen([sys.executable, "-m", "selrob", "sweep", "--smoke", "--epochs", "30", "--workers", "2",
                                "--runs-dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.rglob("metrics.csv")) and time.monotonic() < deadline:
        time.sleep(0.2)
    workers = [int(pid) for pid in subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True,
                                                  text=True).stdout.split()]
    assert workers
    process.send_signal(signal.SIGKILL)  # no Ctrl-C reaches the workers
    process.wait()
    deadline = time.monotonic() + 15
    while any(map(_running, workers)) and time.monotonic() < deadline:
        time.sleep(0.2)
    alive = [pid for pid in workers if _running(pid)]
    assert not alive, f"workers {alive} outlived their caller"


@pytest.mark.slow
def test_the_correct_subset_of_robust_runs_pairs_them_with_the_standard_ones(smoke_pairs: Path,
                                                                            capsys: pytest.CaptureFixture[str]) -> None:
    result = selrob_in_process(capsys, "evaluate", "correct-subset", "--dataset", "shapes", "--smoke",
                               "--adversarial-steps", "1", "--runs-dir", str(smoke_pairs))
    assert result.returncode == 0, result.stderr
    assert "rows of 2 runs" in result.stdout and "share of the test images in the subset" in result.stdout
