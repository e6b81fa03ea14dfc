"""What training does differently on CUDA, reached on the CPU: bf16 autocast in the training step
and in the attacks that make adversarial training inputs (selrob.device.mixed_precision, forced by
SELROB_BF16=1). Data-parallel training's CUDA path (DDP when launched, channels-last) is in
tests/test_data_parallel.py. Pinned memory, NCCL and cudnn's autotuner need a GPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from selrob.config import resolve_config
from selrob.device import BF16_VARIABLE, mixed_precision
from selrob.errors import SelrobError
from selrob.measures.units import UnitRecorder
from selrob.models import build_model
from selrob.models.stacked import StackedModels
from selrob.training.loop import adversarial_training_examples, pgd_training_examples, training_step

CPU = torch.device("cpu")


def test_bf16_is_on_for_cuda_and_where_the_setting_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BF16_VARIABLE, raising=False)
    assert not mixed_precision(CPU) and mixed_precision(torch.device("cuda"))
    monkeypatch.setenv(BF16_VARIABLE, "1")
    assert mixed_precision(CPU)
    monkeypatch.setenv(BF16_VARIABLE, "0")
    assert not mixed_precision(torch.device("cuda"))
    monkeypatch.setenv(BF16_VARIABLE, "yes")
    with pytest.raises(SelrobError, match="SELROB_BF16='yes' is not allowed; use 1"):
        mixed_precision(CPU)


def _stack() -> StackedModels:
    models = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        models.append(build_model("resnet20", num_classes=10, in_channels=3, mean=[0.5] * 3, std=[0.25] * 3))
    return StackedModels(models)


@pytest.mark.parametrize("bf16", [False, True])
def test_the_training_step_runs_in_bf16_when_asked(monkeypatch: pytest.MonkeyPatch, bf16: bool) -> None:
    monkeypatch.setenv(BF16_VARIABLE, "1" if bf16 else "0")
    model = _stack()
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    generator = torch.Generator().manual_seed(0)
    inputs = torch.rand(2 * 8, 3, 32, 32, generator=generator)
    labels = torch.randint(0, 10, (2 * 8,), generator=generator)
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    computed = []
    conv.register_forward_hook(lambda module, args, output: computed.append(output.dtype))
    with UnitRecorder(model) as units:
        loss, _, mu_si, _ = training_step(model, optimizer, inputs, labels, [1.0, -1.0], 10, 1e-6, units)
    assert computed == [torch.bfloat16 if bf16 else torch.float32]  # the forward pass ran under autocast
    assert torch.isfinite(loss).all() and torch.isfinite(mu_si).all()
    assert all(p.dtype == torch.float32 for p in model.parameters())  # weights stay float32
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


@pytest.mark.parametrize("kind", ["pgd_steps", "adversarial_steps"])
def test_adversarial_training_inputs_are_made_in_bf16_when_training_is(monkeypatch: pytest.MonkeyPatch,
                                                                         kind: str) -> None:
    config = resolve_config("shapes", "alexnet_small", smoke=True, **{kind: 2})
    torch.manual_seed(0)
    model = build_model("alexnet_small", num_classes=10, in_channels=3, mean=[0.5] * 3, std=[0.25] * 3).eval()
    generator = torch.Generator().manual_seed(1)
    images, labels = torch.rand(6, 3, 32, 32, generator=generator), torch.randint(0, 10, (6,), generator=generator)

    def made() -> torch.Tensor:
        if kind == "pgd_steps":
            return pgd_training_examples(model, images, labels, config)
        return adversarial_training_examples(model, images, labels, config, epoch=10)

    made_in = {}
    for setting in ("0", "1"):
        monkeypatch.setenv(BF16_VARIABLE, setting)
        made_in[setting] = made()
    for examples in made_in.values():
        assert examples.dtype == torch.float32 and examples.min() >= 0 and examples.max() <= 1
        moved = (examples - images).flatten(1)
        if kind == "pgd_steps":  # L-infinity budget
            assert moved.abs().max() <= config.pgd_epsilon + 1e-6
        else:  # L2 budget
            assert moved.norm(dim=1).max() <= config.adversarial_epsilon + 1e-4
    # bf16 gradients are other gradients: the two paths ran (a chance equality is out of reach).
    assert not torch.equal(made_in["0"], made_in["1"])


def test_a_pgd_trained_smoke_run_trains_in_bf16_on_the_cpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from selrob.pipeline.sweep import run_sweep
    from selrob.store.runs import Run

    monkeypatch.setenv(BF16_VARIABLE, "1")
    config = resolve_config("digits", smoke=True, epochs=1, pgd_steps=1)
    run_sweep([config], runs_root=tmp_path, device="cpu", workers=1, progress=False)
    summary = Run.for_config(config, tmp_path).summary()
    assert summary["mixed_precision"] is True  # the run says how it was trained
    assert 0 <= summary["test_accuracy"] <= 1 and summary["mean_selectivity"] >= 0


def test_a_bad_bf16_setting_stops_a_command_before_it_writes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from selrob.cli import main

    monkeypatch.setenv(BF16_VARIABLE, "maybe")
    assert main(["train", "--smoke", "--epochs", "1", "--runs-dir", str(tmp_path / "runs")]) == 2
    assert capsys.readouterr().err.strip() == ("selrob: error: SELROB_BF16='maybe' is not allowed; use 1 (bf16 on any "
                                               "device), 0 (never) or leave it unset (on CUDA)")
    assert not (tmp_path / "runs").exists()
