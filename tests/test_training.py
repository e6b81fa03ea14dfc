"""Training protocol, run keys, resumption after a hard kill, and skipping finished runs."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from selrob.config import default_grid, resolve_config
from selrob.errors import SelrobError
from selrob.store.runs import Run
from selrob.training import train_run
from selrob.training.loop import learning_rate

TINY = dict(epochs=2, milestones=(1,), max_train_samples=128, max_eval_samples=100)


def test_presets_follow_the_paper() -> None:
    cifar = resolve_config("cifar10", alpha=0.3)
    assert (cifar.arch, cifar.epochs, cifar.batch_size, cifar.lr, cifar.milestones) == ("resnet20", 200, 256, 0.1, (100, 150))
    assert (cifar.momentum, cifar.weight_decay, cifar.val_per_class, cifar.hflip, cifar.crop_padding) == (0.9, 1e-4, 500, True, 4)
    tiny18 = resolve_config("tinyimagenet")
    assert (tiny18.arch, tiny18.epochs, tiny18.batch_size, tiny18.milestones) == ("resnet18", 90, 4096, (35, 50, 65, 80))
    assert resolve_config("tinyimagenet", "resnet50").batch_size == 1400
    assert len(default_grid("cifar10")[0]) == 13 and len(default_grid("tinyimagenet")[0]) == 15
    assert len(default_grid("tinyimagenet", "resnet50")[1]) == 5 and len(default_grid("cifar10")[1]) == 20


def test_learning_rate_schedule() -> None:
    config = resolve_config("cifar10")
    assert [learning_rate(config, e) for e in (0, 99, 100, 149, 150, 199)] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])


def test_run_key_covers_every_result_affecting_setting() -> None:
    base = resolve_config("digits", alpha=-0.0, seed=1)
    assert Run.for_config(base, "/r").path.parts[-2:] == ("alpha_0.0", "seed_1")
    assert base.protocol_key() == resolve_config("digits", alpha=1.0, seed=5).protocol_key()
    assert base.protocol_key() != resolve_config("digits", epochs=21).protocol_key()
    assert base.protocol_key() != resolve_config("digits", smoke=True).protocol_key()
    assert Run.for_config(base, "/r") != Run.for_config(resolve_config("digits", lr=0.05, seed=1), "/r")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(dataset="mnist"), "unknown dataset 'mnist'"),
        (dict(dataset="digits", arch="vgg"), "unknown arch 'vgg'"),
        (dict(dataset="digits", alpha=float("nan")), "alpha must be a finite number"),
        (dict(dataset="digits", momentum_typo=0.5), "unknown training settings: momentum_typo"),
        (dict(dataset="digits", epochs=0), "epochs must be at least 1"),
    ],
)
def test_bad_configs_are_clear_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SelrobError, match=message):
        resolve_config(**kwargs)


def test_train_run_writes_a_complete_run_and_skips_it_when_finished(tmp_path: Path) -> None:
    config = resolve_config("digits", alpha=0.5, seed=0, **TINY)
    run = train_run(config, tmp_path, progress=False)
    summary = run.summary()
    assert run.config() == config
    assert not run.last_path.exists() and run.best_path.is_file()
    assert len(summary["layers"]) == 19 and summary["layers"][0]["units"] == 16
    assert 0.0 <= summary["mean_selectivity"] <= 1.0 and 0.0 <= summary["test_accuracy"] <= 1.0
    assert summary["mean_selectivity"] == pytest.approx(sum(l["selectivity"] for l in summary["layers"]) / 19)
    with open(run.metrics_path) as handle:
        assert [int(row["epoch"]) for row in csv.DictReader(handle)] == [0, 1]
    stamp = run.summary_path.stat().st_mtime_ns
    assert train_run(config, tmp_path, progress=False) == run
    assert run.summary_path.stat().st_mtime_ns == stamp


def _train_command(runs: Path) -> list[str]:
    return [sys.executable, "-m", "selrob", "train", "--dataset", "digits", "--alpha", "1", "--seed", "3",
            "--epochs", "8", "--milestones", "4", "--max-train-samples", "512", "--max-eval-samples", "150",
            "--runs-dir", str(runs), "--device", "cpu"]


def _completed_epochs(runs: Path) -> int:
    metrics = list(runs.rglob("metrics.csv"))
    return max(0, len(metrics[0].read_text().splitlines()) - 1) if metrics else 0


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_result(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the same threads in every process: same float sums
    uninterrupted, resumed = tmp_path / "a", tmp_path / "b"
    subprocess.run(_train_command(uninterrupted), check=True, env=env, capture_output=True)

    process = subprocess.Popen(_train_command(resumed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _completed_epochs(resumed) < 3 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_after = _completed_epochs(resumed)
    assert 3 <= killed_after < 8, "the run was not interrupted mid-training"
    assert not list(resumed.rglob("summary.json")) and list(resumed.rglob("last.pt"))
    subprocess.run(_train_command(resumed), check=True, env=env, capture_output=True)

    run_a = Run(next(uninterrupted.rglob("summary.json")).parent)
    run_b = Run(next(resumed.rglob("summary.json")).parent)
    best_a, best_b = torch.load(run_a.best_path, weights_only=True), torch.load(run_b.best_path, weights_only=True)
    assert best_a.keys() == best_b.keys()
    assert all(torch.equal(best_a[k], best_b[k]) for k in best_a)
    summary_a, summary_b = run_a.summary(), run_b.summary()
    for key in ("test_accuracy", "mean_selectivity", "best_epoch", "val_accuracy", "layers"):
        assert summary_a[key] == summary_b[key]
    rows_a = [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(open(run_a.metrics_path))]
    rows_b = [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(open(run_b.metrics_path))]
    assert rows_a == rows_b and len(rows_a) == 8
