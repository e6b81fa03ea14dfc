"""Worst-case robustness of a trained run (section 4.2, Figure 2, A12, A13), cached in its run
folder: accuracy under FGSM per epsilon, under PGD after every step, and the mean norm of the
input-output Jacobian. Each result is computed once per (run, settings) and reused by notebooks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from selrob.analysis.cache import cached_result
from selrob.analysis.jacobian import input_output_jacobian_norm
from selrob.attacks import AttackSettings, PGDResult, attack_accuracy, fgsm_correct, pgd_attack
from selrob.data.base import ImageSet
from selrob.data.batches import iterate_batches, to_unit_float
from selrob.device import resolve_device
from selrob.runs import Run

DEFAULT_BATCH_SIZE = 500


def _model_and_data(run: Run, data_root: str | Path | None, device: str | torch.device | None) -> tuple[torch.nn.Module, ImageSet]:
    device = resolve_device(device)
    return run.load_model(device), run.test_set(data_root).to(device)


def pgd_generator(seed: int) -> torch.Generator:
    """The CPU generator of PGD's random start (used only with ``random_start``)."""
    return torch.Generator().manual_seed(seed)


def pgd_cache_params(settings: AttackSettings, amp: bool) -> dict[str, object]:
    """What a cached PGD curve depends on."""
    return {**settings.pgd_params(), "amp": amp}


def settings_pgd(
    model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, settings: AttackSettings,
    generator: torch.Generator, amp: bool, observers: Sequence[torch.nn.Module] = (),
) -> PGDResult:
    """:func:`selrob.attacks.pgd_attack` with the PGD parameters of ``settings``."""
    return pgd_attack(model, images, labels, settings.pgd_epsilon, settings.pgd_step_size, settings.pgd_steps,
                      settings.random_start, generator, observers, amp)


def evaluate_fgsm(
    run: Run,
    settings: AttackSettings,
    data_root: str | Path | None = None,
    device: str | torch.device | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    amp: bool = False,
    progress: bool = False,
) -> list[float]:
    """Test accuracy under FGSM at each of ``settings.fgsm_epsilons`` (Figure 2a)."""
    params = {**settings.fgsm_params(), "amp": amp}

    def compute() -> list[float]:
        model, data = _model_and_data(run, data_root, device)
        accuracy = attack_accuracy(
            data, lambda x, y: fgsm_correct(model, x, y, settings.fgsm_epsilons, amp), batch_size, progress, "FGSM")
        return accuracy.tolist()

    return cached_result(run.evaluations_dir, "fgsm", params, compute)


def evaluate_pgd(
    run: Run,
    settings: AttackSettings,
    data_root: str | Path | None = None,
    device: str | torch.device | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    amp: bool = False,
    progress: bool = False,
) -> list[float]:
    """Test accuracy after PGD steps 0, 1, ..., ``settings.pgd_steps`` (Figure 2b), one pass."""
    params = pgd_cache_params(settings, amp)

    def compute() -> list[float]:
        model, data = _model_and_data(run, data_root, device)
        generator = pgd_generator(run.config().seed)

        return attack_accuracy(data, lambda x, y: settings_pgd(model, x, y, settings, generator, amp).correct,
                               batch_size, progress, "PGD").tolist()

    return cached_result(run.evaluations_dir, "pgd", params, compute)


def evaluate_jacobian(
    run: Run,
    data_root: str | Path | None = None,
    device: str | torch.device | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> dict[str, Any]:
    """Mean and standard deviation over the test set of the per-sample input-output Jacobian
    norm (Figure 2c)."""

    def compute() -> dict[str, Any]:
        model, data = _model_and_data(run, data_root, device)
        norms = torch.cat([input_output_jacobian_norm(model, to_unit_float(images))
                           for images, _ in iterate_batches(data, batch_size)])
        return {"mean": float(norms.mean()), "std": float(norms.std()), "samples": len(norms)}

    return cached_result(run.evaluations_dir, "jacobian", {"measure": "input-output jacobian frobenius"}, compute)
