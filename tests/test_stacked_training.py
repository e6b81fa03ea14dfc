"""Runs of a sweep trained together as one network (selrob.models.stacked, selrob.training.loop)
equal the same runs trained alone, and resume like them.

Tolerances: the stacked network's grouped convolutions sum in another order than a model's own
convolutions, so results agree to float32 rounding amplified by training. At the digits preset's
learning rate (0.1) the first steps amplify a rounding difference about tenfold per step (two
models trained alone on two processor types part just as fast), so the comparison trains at lr
0.01, where over its 8 SGD steps per-step losses agree to about 1e-5 relative: the test allows
1e-4, and 1e-4 absolute on weights, while any mix-up of data, alphas or parameters between models
moves them by orders of magnitude more.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

from selrob.config import resolve_config
from selrob.errors import SelrobError
from selrob.io import load_torch
from selrob.models import build_model
from selrob.models.stacked import StackedModels, stackable
from selrob.pipeline.sweep import plan_jobs, run_sweep
from selrob.store.runs import Run
from selrob.training import loop
from selrob.training.loop import train_run, train_runs
from selrob.training.regularizer import selectivity_regularized_loss

TINY = dict(epochs=2, milestones=(1,), max_train_samples=512, max_eval_samples=100, lr=0.01)
#: Different alphas (the regularizer's sign and weight) and seeds (data order, initialisation).
GRID = ((-1.0, 0), (0.0, 1), (0.7, 2))
#: A stack's and its runs' own step losses and weights, on one thread: measured 1e-6 and 9e-6 apart
#: with this machine's kernels, 7e-5 and 5e-5 under the knife-edge guard's (.ci/cpu-profile.env);
#: 1e-3 is 15 times that, while runs mixed up in the stack move the losses by 0.1 to 0.2 relative.
LOSS_RTOL, WEIGHT_ATOL = 1e-3, 1e-3
#: BatchNorm's running statistics are averages over batch and pixels, reduced in another order
#: by a stack's (channels-last, K x C channel) kernels: 2e-4 apart after 8 steps here.
RUNNING_STATISTICS_ATOL = 1e-3
#: An epoch's mean selectivity (ratios of differences of unit means) moves 1e-4 relative so.
SELECTIVITY_RTOL = 1e-3
#: Adversarial training keeps each example's highest-loss attack iterate: weights one rounding
#: apart after a step can pick another iterate for an example near a tie, which moves the next
#: step's batch loss by up to about 5e-5 relative here (the first step agrees to 1e-7).
ATTACK_LOSS_RTOL = 1e-3


def _models(arch: str, count: int, channels: int = 1) -> list[nn.Module]:
    models = []
    for seed in range(count):
        torch.manual_seed(seed)
        models.append(build_model(arch, num_classes=10, in_channels=channels, mean=[0.5] * channels,
                                  std=[0.3] * channels))
    return models


@pytest.mark.parametrize("arch, size", [("resnet20", 8), ("alexnet_small", 16), ("resnet18", 16)])
def test_a_stack_computes_each_models_logits_and_batchnorm_statistics(arch: str, size: int) -> None:
    models = _models(arch, 3)
    stacked = StackedModels(models)
    images = torch.rand(3 * 6, 1, size, size)
    stacked.train()
    for model in models:
        model.train()
    together = stacked(images)
    alone = torch.cat([model(block) for model, block in zip(models, images.chunk(3))])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)
    for index, model in enumerate(models):
        state = stacked.model_state_dict(index)
        assert state.keys() == model.state_dict().keys()
        for key, value in model.state_dict().items():
            torch.testing.assert_close(state[key], value, rtol=1e-4, atol=1e-6)  # running statistics too
    stacked.eval()
    for model in models:
        model.eval()
    torch.testing.assert_close(stacked(images), torch.cat([m(b) for m, b in zip(models, images.chunk(3))]),
                               rtol=1e-4, atol=1e-5)


def test_model_states_split_and_join_exactly() -> None:
    models = _models("resnet20", 2)
    stacked = StackedModels(models)
    parts = [stacked.model_state_dict(index) for index in range(2)]
    assert all(torch.equal(parts[i][k], models[i].state_dict()[k]) for i in range(2) for k in parts[i])
    stacked.load_model_state_dicts(parts[::-1])
    assert all(torch.equal(stacked.model_state_dict(0)[k], parts[1][k]) for k in parts[1])


def test_only_channel_local_architectures_stack() -> None:
    mixing = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Dropout(0.5), nn.Flatten())
    assert not stackable(mixing) and stackable(_models("resnet20", 1)[0])
    with pytest.raises(SelrobError, match="cannot stack models containing Dropout"):
        StackedModels([mixing, nn.Sequential(nn.Conv2d(1, 4, 3), nn.Dropout(0.5), nn.Flatten())])
    alone = StackedModels([mixing])  # a single model of any kind is its own stack
    assert alone.network is mixing and alone(torch.rand(2, 1, 5, 5)).shape == (2, 36)


def test_the_regularizer_of_several_models_uses_each_models_alpha() -> None:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 20, 4, generator=generator)
    labels = torch.randint(0, 4, (3, 20), generator=generator)
    layers = [torch.rand(3, 20, 5, generator=generator), torch.rand(3, 20, 7, generator=generator)]
    alphas = [-1.0, 0.0, 0.5]
    loss, ce, mu = selectivity_regularized_loss(logits, labels, layers, alphas, 4)
    for k, alpha in enumerate(alphas):
        alone = selectivity_regularized_loss(logits[k], labels[k], [layer[k] for layer in layers], alpha, 4)
        torch.testing.assert_close(torch.stack([loss[k], ce[k], mu[k]]), torch.stack(alone))
    assert loss[0] > ce[0] and loss[1] == ce[1] and loss[2] < ce[2]
    with pytest.raises(ValueError, match="needs the recorded layers"):
        selectivity_regularized_loss(logits, labels, [], alphas, 4)


def _step_losses(monkeypatch: pytest.MonkeyPatch) -> list[torch.Tensor]:
    recorded: list[torch.Tensor] = []
    step = loop.training_step

    def recording(*args: object, **kwargs: object) -> tuple[torch.Tensor, ...]:
        result = step(*args, **kwargs)  # type: ignore[arg-type]
        recorded.append(result[0])
        return result

    monkeypatch.setattr(loop, "training_step", recording)
    return recorded


def _rows(run: Run) -> list[dict[str, float]]:
    with open(run.metrics_path) as handle:
        return [{k: float(v) for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)]


@pytest.fixture
def one_thread() -> Iterator[None]:
    """PyTorch on one thread for the test, restored after it: on two, the stack's and the runs'
    BatchNorm statistics reduce in orders 3e-3 apart under the guard's kernels."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("one_thread")
def test_runs_trained_together_equal_runs_trained_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    configs = [resolve_config("digits", alpha=alpha, seed=seed, **TINY) for alpha, seed in GRID]
    losses = _step_losses(monkeypatch)
    alone = [train_run(config, tmp_path / "alone", progress=False) for config in configs]
    alone_losses = torch.stack(losses).view(len(configs), -1)  # each run's steps, run after run
    losses.clear()
    together = train_runs(configs, tmp_path / "together", progress=False)
    together_losses = torch.stack(losses).T
    assert together_losses.shape == alone_losses.shape == (3, 8)
    torch.testing.assert_close(together_losses, alone_losses, rtol=LOSS_RTOL, atol=0)
    assert len({round(float(loss), 3) for loss in together_losses[:, 0]}) == 3  # the models do differ
    for a, b in zip(alone, together):
        assert a.path.name == b.path.name and a.config() == b.config()
        best_a, best_b = load_torch(a.best_path), load_torch(b.best_path)
        for key in best_a:
            tolerance = RUNNING_STATISTICS_ATOL if key.endswith(("running_mean", "running_var")) else WEIGHT_ATOL
            torch.testing.assert_close(best_b[key], best_a[key], rtol=0, atol=tolerance, msg=lambda m: f"{key}: {m}")
        rows_a, rows_b = _rows(a), _rows(b)
        assert [r["epoch"] for r in rows_a] == [r["epoch"] for r in rows_b] == [0, 1]
        for row_a, row_b in zip(rows_a, rows_b):
            # A near-tie may flip a decision: accuracies within one validation image, two training images.
            assert row_b["val_accuracy"] == pytest.approx(row_a["val_accuracy"], abs=0.011)
            assert row_b["train_accuracy"] == pytest.approx(row_a["train_accuracy"], abs=0.005)
            losses_a = {k: v for k, v in row_a.items() if not k.endswith(("accuracy", "selectivity"))}
            losses_b = {k: v for k, v in row_b.items() if not k.endswith(("accuracy", "selectivity"))}
            assert losses_b == pytest.approx(losses_a, rel=LOSS_RTOL)
            # NaN selectivity where alpha = 0
            assert row_b["train_selectivity"] == pytest.approx(row_a["train_selectivity"], rel=SELECTIVITY_RTOL,
                                                               nan_ok=True)
        assert b.summary()["trained_together"] == 3 and a.summary()["trained_together"] == 1
    # The step losses include each run's own -alpha * mu_SI (0.1 to 0.2 here, far above the
    # tolerance); the run at alpha 0 reports no selectivity, as it does alone.
    selectivity = [_rows(run)[-1]["train_selectivity"] for run in together]
    assert 0 < selectivity[0] < 1 and 0 < selectivity[2] < 1 and selectivity[1] != selectivity[1]


@pytest.mark.parametrize("mode, grid", [
    ({"pgd_steps": 1}, ((-1.0, 0), (0.7, 1))),  # PGD training's examples, made by the stack
    ({"adversarial_steps": 2}, ((0.0, 0), (0.0, 1))),  # the second paper's L2 adversarial training
    ({"augmix": True}, ((0.0, 0), (0.0, 1))),  # each model's three views and its own JSD term
], ids=["pgd-training", "l2-adversarial", "augmix"])
def test_attacked_and_augmixed_runs_trained_together_equal_runs_trained_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: dict[str, object], grid: tuple[tuple[float, int], ...]
) -> None:
    """The first two steps' losses, to :data:`ATTACK_LOSS_RTOL`: a mix-up of examples, views or
    alphas between the models moves a step's loss by tens of percent from the first step on."""
    configs = [resolve_config("digits", alpha=alpha, seed=seed, **{**TINY, "epochs": 1, "max_train_samples": 256},
                              **mode) for alpha, seed in grid]
    losses = _step_losses(monkeypatch)
    for config in configs:
        train_run(config, tmp_path / "alone", progress=False)
    alone = torch.stack(losses).view(len(configs), -1)
    losses.clear()
    together = train_runs(configs, tmp_path / "together", progress=False)
    assert torch.stack(losses).T.shape == alone.shape == (2, 2)
    torch.testing.assert_close(torch.stack(losses).T, alone, rtol=ATTACK_LOSS_RTOL, atol=0)
    assert abs(float(alone[0, 0] - alone[1, 0])) > 10 * ATTACK_LOSS_RTOL * float(alone[0, 0])  # the models differ
    assert [run.summary()["trained_together"] for run in together] == [2, 2]


# Slow: trains three times (25 s); it compares the same computation in one process, which no CPU
# profile changes (the guard has nothing to check).
@pytest.mark.slow
def test_an_interrupted_stack_resumes_to_the_same_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    configs = [resolve_config("digits", alpha=alpha, seed=seed, **{**TINY, "epochs": 3, "milestones": (2,)})
               for alpha, seed in GRID[:2]]
    uninterrupted = train_runs(configs, tmp_path / "a", progress=False)

    schedule = loop.learning_rate

    def interrupt_at_epoch_2(config: object, epoch: int) -> float:
        if epoch == 2:
            raise KeyboardInterrupt
        return schedule(config, epoch)  # type: ignore[arg-type]

    monkeypatch.setattr(loop, "learning_rate", interrupt_at_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train_runs(configs, tmp_path / "b", progress=False)
    monkeypatch.setattr(loop, "learning_rate", schedule)
    interrupted = [Run.for_config(c, tmp_path / "b") for c in configs]
    assert all(run.last_path.is_file() and not run.is_finished() for run in interrupted)
    assert all(load_torch(run.last_path)["state"]["next_epoch"] == 2 for run in interrupted)
    shutil.copytree(tmp_path / "b", tmp_path / "c")
    resumed = train_runs(configs, tmp_path / "b", progress=False)
    for a, b in zip(uninterrupted, resumed):
        best_a, best_b = load_torch(a.best_path), load_torch(b.best_path)
        assert all(torch.equal(best_a[k], best_b[k]) for k in best_a)
        assert str(_rows(a)) == str(_rows(b)) and len(_rows(a)) == 3
    # The stack's checkpoints are ordinary runs' checkpoints: one run resumes alone.
    alone = train_run(configs[0], tmp_path / "c", progress=False)
    best_a, best_c = load_torch(uninterrupted[0].best_path), load_torch(alone.best_path)
    for key in best_a:
        torch.testing.assert_close(best_c[key], best_a[key], rtol=0, atol=WEIGHT_ATOL)


def test_a_sweep_plans_one_job_per_protocol_group_and_core() -> None:
    plain = [resolve_config("digits", alpha=a, seed=s, smoke=True) for a in (-1.0, 0.0, 1.0) for s in (0, 1)]
    pgd = [resolve_config("digits", alpha=0.0, seed=s, smoke=True, pgd_steps=1) for s in (0, 1)]
    assert [len(job) for job in plan_jobs(plain + pgd, together=False, max_together=16)] == [1] * 8
    jobs = plan_jobs(plain + pgd, together=True, max_together=16, parts=2)
    assert sorted(len(job) for job in jobs) == [1, 1, 3, 3]
    assert {c.protocol_key() for job in jobs for c in job if c.pgd_steps} == {pgd[0].protocol_key()}
    assert all(len({c.protocol_key() for c in job}) == 1 for job in jobs)
    assert sorted(len(job) for job in plan_jobs(plain, together=True, max_together=4)) == [3, 3]
    assert sorted(len(job) for job in plan_jobs(plain, together=True, max_together=16)) == [6]
    # Asked to train together, two runs on two workers stay one network; where faster, they split.
    assert [len(job) for job in plan_jobs(plain[:2], together=True, max_together=16, parts=2, min_together=2)] == [2]
    assert [len(job) for job in plan_jobs(plain[:2], together=True, max_together=16, parts=2)] == [1, 1]
    assert sorted(len(job) for job in plan_jobs(plain[:5], True, 16, parts=2, min_together=2)) == [2, 3]
    seven = [resolve_config("digits", alpha=0.0, seed=s, smoke=True) for s in range(7)]
    assert sorted(len(job) for job in plan_jobs(seven, True, 16, parts=3, min_together=2)) == [2, 2, 3]
    assert sorted(len(job) for job in plan_jobs(seven, True, 2, parts=2)) == [1, 2, 2, 2]  # at most 2 each


def test_a_stack_holds_at_most_sixteen_cifar_batches_of_pixels() -> None:
    cifar = [resolve_config("cifar10", alpha=0.0, seed=s) for s in range(20)]
    assert sorted(len(job) for job in plan_jobs(cifar, together=True, max_together=32)) == [10, 10]
    augmix = [resolve_config("cifar10", alpha=0.0, seed=s, augmix=True) for s in range(6)]
    assert sorted(len(job) for job in plan_jobs(augmix, together=True, max_together=16)) == [3, 3]  # 3 views
    # One Tiny ImageNet ResNet18 step (4,096 images of 64 x 64) is four times the budget alone.
    tiny = [resolve_config("tinyimagenet", alpha=a, seed=0) for a in (-1.0, 0.0, 1.0)]
    assert [len(job) for job in plan_jobs(tiny, together=True, max_together=16)] == [1, 1, 1]


# Slow: trains four smoke runs in two worker processes (15 to 30 s) to check the orchestration; the tests above
# compare runs trained together with runs trained alone in the fast set.
@pytest.mark.slow
def test_a_sweep_trained_together_gives_finished_ordinary_runs(tmp_path: Path) -> None:
    configs = [resolve_config("digits", alpha=a, seed=s, smoke=True) for a in (-1.0, 1.0) for s in (0, 1)]
    runs = run_sweep(configs, runs_root=tmp_path, device="cpu", workers=2, together=True, progress=False)
    assert all(run.is_finished() for run in runs)
    assert {run.summary()["trained_together"] for run in runs} == {2}
    with pytest.raises(SelrobError, match="max_together must be at least 1, got 0"):
        run_sweep(configs, runs_root=tmp_path, together=True, max_together=0, progress=False)
    with pytest.raises(SelrobError, match="must share dataset, architecture and protocol"):
        train_runs([configs[0], resolve_config("digits", alpha=0.0, seed=0, smoke=True, augmix=True)], tmp_path)


def test_the_sweep_command_forces_either_way_and_refuses_bad_counts(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from selrob.cli import build_parser, main

    assert build_parser().parse_args(["sweep", "--together"]).together is True
    assert build_parser().parse_args(["sweep", "--separate"]).together is False
    assert build_parser().parse_args(["sweep"]).together is None
    for flag, value in (("--max-together", "0"), ("--max-together", "abc"), ("--workers", "-1")):
        with pytest.raises(SystemExit) as stopped:
            main(["sweep", "--smoke", flag, value, "--runs-dir", str(tmp_path)])
        assert stopped.value.code == 2
        assert capsys.readouterr().err.strip().endswith(f"error: argument {flag}: {value!r} is not a whole number "
                                                        "of at least 1")
    assert main(["sweep", "--smoke", "--separate", "--max-together", "3", "--runs-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == ("selrob: error: --max-together applies to runs trained together; "
                                               "drop it or --separate")
    assert not list(tmp_path.iterdir())
    with pytest.raises(SystemExit) as stopped:
        main(["sweep", "--together", "--separate"])
    assert stopped.value.code == 2 and "not allowed with argument --together" in capsys.readouterr().err
