"""Resumable training with the selectivity regularizer (paper appendix A.1.1).

One call trains one run, or the runs of a sweep that share architecture and protocol together as
one network (:mod:`selrob.models.stacked`), to completion: it resumes from ``last.pt`` after an
interruption, skips runs that are finished, and keeps the weights of each run's best-validation
epoch. Every epoch draws a run's shuffling and augmentation from a generator seeded by
``(seed, epoch)``, so a resumed run on the CPU ends bit-for-bit where an uninterrupted one does,
and a run trained with others gets the batches it would get alone. Each run's folder holds
ordinary files (``last.pt``, ``best.pt``, ``metrics.csv``, ``summary.json``) whichever way it
was trained.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from selrob.progress import progress_bar

from selrob.measures.evaluate import evaluate_accuracies, evaluate_clean
from selrob.measures.units import UnitRecorder
from selrob.attacks import pgd_attack, pgd_l2_attack
from selrob.data import load_splits
from selrob.data.base import Splits
from selrob.data.batches import iterate_batches, pad_crop_flip, to_unit_float
from selrob.device import device_description, mixed_precision, resolve_device, training_autocast
from selrob.io import load_torch, save_torch, write_json, write_text
from selrob.errors import SelrobError
from selrob.models import NormalizedModel, build_model
from selrob.models.placement import channels_last, place_for_evaluation
from selrob.models.stacked import StackedModels
from selrob.store.runs import Run, check_config_matches
from selrob.config import TrainConfig
from selrob.training.augmix import JSD_WEIGHT, augment_and_mix, augmix_numpy_rng, jensen_shannon_consistency
from selrob.training.regularizer import selectivity_regularized_loss


def learning_rate(config: TrainConfig, epoch: int) -> float:
    """Step schedule: ``lr * gamma ** (number of milestones <= epoch)``."""
    return config.lr * config.lr_gamma ** sum(epoch >= m for m in config.milestones)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The CPU generator for one epoch's shuffling and augmentation."""
    state = np.random.SeedSequence([seed, epoch]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(state))


@dataclass
class TrainState:
    """What ``last.pt`` holds besides the model and optimizer."""

    next_epoch: int = 0
    best_val_accuracy: float = -1.0
    best_epoch: int = -1
    history: list[dict[str, Any]] = field(default_factory=list)


def training_step(
    model: StackedModels,
    optimizer: torch.optim.Optimizer,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    alphas: Sequence[float],
    num_classes: int,
    eps: float,
    units: UnitRecorder | None,
    augmix: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One SGD step on Eq. 2 for the K models of ``model`` (bf16 autocast on CUDA,
    :func:`selrob.device.mixed_precision`): ``inputs``
    and ``labels`` are K blocks of rows, model k's alpha ``alphas[k]``; ``units`` must be
    recording when an alpha is not 0. The loss summed over models has each model's own gradient.

    With ``augmix``, each model's block stacks its clean batch and two AugMix views, and its loss
    is the clean cross-entropy plus 12 times their Jensen-Shannon consistency (alpha is 0).
    Returns the detached per-model ``(loss, cross_entropy, mu_si)`` and the (K, B, classes)
    logits of the clean batches; ``mu_si`` is NaN when no layers were recorded.
    """
    with training_autocast(inputs.device):
        logits = model(inputs)
    logits = logits.view(model.count, -1, logits.shape[-1])
    labels = labels.view(model.count, -1)
    if augmix:
        logits, *views = logits.chunk(3, dim=1)
        loss, cross_entropy, mu_si = selectivity_regularized_loss(logits, labels, [], [0.0] * model.count,
                                                                  num_classes, eps)
        loss = loss + JSD_WEIGHT * torch.stack([jensen_shannon_consistency(logits[k], views[0][k], views[1][k])
                                                for k in range(model.count)])
    else:
        layer_units = [model.units(layer) for layer in units.activations] if units is not None else []
        loss, cross_entropy, mu_si = selectivity_regularized_loss(logits, labels, layer_units, alphas, num_classes, eps)
    optimizer.zero_grad(set_to_none=True)
    loss.sum().backward()
    optimizer.step()
    return loss.detach(), cross_entropy.detach(), mu_si.detach(), logits.detach()


def pgd_training_examples(model: torch.nn.Module, inputs: torch.Tensor, labels: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    """PGD training's inputs (appendix A.7; Madry et al. 2018 train on these alone): the test
    attack, no random start, made with the model in eval mode (its BatchNorm statistics are not
    updated by the attack's passes); in bf16 when the training step is."""
    assert config.pgd_steps is not None and config.pgd_epsilon is not None and config.pgd_step_size is not None
    return pgd_attack(model, inputs, labels, config.pgd_epsilon, config.pgd_step_size, config.pgd_steps,
                      amp=mixed_precision(inputs.device)).adversarial


def adversarial_budget_scale(config: TrainConfig, epoch: int) -> float:
    """The share of the adversarial budget (epsilon and step size) used in ``epoch``: with
    ``adversarial_warmup`` W it grows linearly, (epoch + 1) / W, to the full budget at epoch W - 1."""
    warmup = config.adversarial_warmup or 1
    return min(1.0, (epoch + 1) / warmup)


def adversarial_training_examples(model: torch.nn.Module, inputs: torch.Tensor, labels: torch.Tensor,
                                  config: TrainConfig, epoch: int) -> torch.Tensor:
    """The second paper's adversarial training inputs (Madry et al. 2018 with the robustness
    library's L2 PGD: normalised steps, projection, no random start, the highest-loss iterate),
    made with the model in eval mode; in bf16 when the training step is."""
    assert config.adversarial_steps is not None and config.adversarial_epsilon is not None
    assert config.adversarial_step_size is not None
    scale = adversarial_budget_scale(config, epoch)
    return pgd_l2_attack(model, inputs, labels, scale * config.adversarial_epsilon, scale * config.adversarial_step_size,
                         config.adversarial_steps, amp=mixed_precision(inputs.device))


@dataclass
class _Member:
    """One run of the models trained together: its config, folder, data, model and state."""

    config: TrainConfig
    run: Run
    splits: Splits
    model: NormalizedModel
    optimizer_state: dict[str, Any] | None
    state: TrainState


def _prepare(config: TrainConfig, runs_root: str | Path | None, data_root: str | Path | None,
             device: torch.device) -> _Member:
    """A run's data and freshly initialised model (seeded by the run's seed), with the model,
    optimizer state and training state of ``last.pt`` when the run was interrupted."""
    run = Run.for_config(config, runs_root)
    checkpoint = load_torch(run.last_path) if run.last_path.is_file() else None
    if run.config_path.is_file():
        check_config_matches(run, config)
    splits = load_splits(
        config.dataset, config.seed, config.val_per_class, data_root,
        config.max_train_samples, config.max_eval_samples,
    )
    info = splits.info
    torch.manual_seed(config.seed)
    model = build_model(
        config.arch, num_classes=info.num_classes, in_channels=info.in_channels, mean=info.mean, std=info.std
    ).to(device)
    if checkpoint is None:
        write_json(run.config_path, config.to_dict())
        return _Member(config, run, splits.to(device), model, None, TrainState())
    model.load_state_dict(checkpoint["model"])
    return _Member(config, run, splits.to(device), model, checkpoint["optimizer"], TrainState(**checkpoint["state"]))


def _optimizer_states(model: StackedModels, optimizer: torch.optim.Optimizer) -> list[dict[str, Any]]:
    """Each model's part of the stacked optimizer's state, as an ordinary optimizer's state dict."""
    whole = optimizer.state_dict()
    names = [name for name, _ in model.network.named_parameters()]
    parts = []
    for index in range(model.count):
        state = {i: {key: model.split({names[i]: value}, index)[names[i]] if torch.is_tensor(value) else value
                     for key, value in buffers.items()} for i, buffers in whole["state"].items()}
        parts.append({"state": state, "param_groups": copy.deepcopy(whole["param_groups"])})
    return parts


def _load_optimizer_states(model: StackedModels, optimizer: torch.optim.Optimizer,
                           parts: Sequence[dict[str, Any]]) -> None:
    names = [name for name, _ in model.network.named_parameters()]
    state = {i: {key: model.join([{names[i]: p["state"][i][key]} for p in parts])[names[i]]
                 if torch.is_tensor(value) else value for key, value in buffers.items()}
             for i, buffers in parts[0]["state"].items()}
    optimizer.load_state_dict({"state": state, "param_groups": parts[0]["param_groups"]})


def _train_epoch(
    model: StackedModels,
    optimizer: torch.optim.Optimizer,
    members: Sequence[_Member],
    num_classes: int,
    epoch: int,
    device: torch.device,
) -> list[dict[str, float]]:
    config = members[0].config
    alphas = [m.config.alpha for m in members]
    model.train()
    generators = [epoch_generator(m.config.seed, epoch) for m in members]
    totals = torch.zeros(len(members), 4, dtype=torch.float64, device=device)  # loss, ce, si, correct
    count = 0
    # The regularizer needs the units; without it the hooks would only cost time.
    recorder = UnitRecorder(model) if any(alphas) else contextlib.nullcontext()
    streams = [iterate_batches(m.splits.train, config.batch_size, g, drop_last=True) for m, g in zip(members, generators)]
    with recorder as units:
        for batches in zip(*streams):
            parts = []
            for (images, _), generator in zip(batches, generators):
                inputs = pad_crop_flip(to_unit_float(images), config.crop_padding, config.hflip, generator)
                if config.augmix:
                    rng = augmix_numpy_rng(generator)
                    inputs = torch.cat([inputs, augment_and_mix(inputs, rng), augment_and_mix(inputs, rng)])
                parts.append(inputs)
            inputs, labels = torch.cat(parts), torch.cat([labels for _, labels in batches])
            if config.pgd_steps is not None:
                inputs = pgd_training_examples(model, inputs, labels, config)
            elif config.adversarial_steps is not None:
                inputs = adversarial_training_examples(model, inputs, labels, config, epoch)
            loss, cross_entropy, mu_si, logits = training_step(
                model, optimizer, inputs, labels, alphas, num_classes, config.si_eps, units, config.augmix
            )
            labels = labels.view(len(members), -1)
            n = labels.shape[1]
            correct = (logits.argmax(dim=-1) == labels).sum(dim=1)
            totals += torch.stack([loss * n, cross_entropy * n, mu_si * n, correct], dim=1).double()
            count += n
    rows = []
    for alpha, (loss_mean, ce_mean, si_mean, accuracy) in zip(alphas, (totals / max(count, 1)).tolist()):
        # A run at alpha 0 reports no selectivity, as it does alone (where nothing records its units).
        rows.append({"train_loss": loss_mean, "train_ce": ce_mean,
                     "train_selectivity": si_mean if alpha else float("nan"), "train_accuracy": accuracy})
    return rows


def _write_metrics(path: Path, history: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    write_text(path, buffer.getvalue())


def _finish(member: _Member, device: torch.device, together: int) -> None:
    """Evaluate the best-validation weights on the test set, write ``summary.json``, drop ``last.pt``."""
    run, model, state, info = member.run, member.model, member.state, member.splits.info
    model.load_state_dict(load_torch(run.best_path))
    # In the layout of every later evaluation (Run.load_model), so that its numbers are theirs.
    clean = evaluate_clean(place_for_evaluation(model, device), member.splits.test, info.num_classes)
    write_json(
        run.summary_path,
        {
            "test_accuracy": clean.accuracy,
            "mean_selectivity": clean.mean_selectivity,
            "best_epoch": state.best_epoch,
            "val_accuracy": state.best_val_accuracy,
            "layers": [
                {"index": i, "name": name, "units": int(si.size), "selectivity": mean, "dead_units": dead}
                for i, (name, si, mean, dead) in enumerate(
                    zip(clean.layer_names, clean.selectivity, clean.layer_means, clean.dead_units)
                )
            ],
            "train_seconds": sum(row["seconds"] for row in state.history),
            "trained_together": together,
            "device": device_description(device),
            "mixed_precision": mixed_precision(device),  # bf16 autocast (selrob.device.mixed_precision)
            "torch_version": torch.__version__,
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    )
    run.last_path.unlink(missing_ok=True)


def _label(members: Sequence[_Member]) -> str:
    config = members[0].config
    if len(members) == 1:
        return f"{config.dataset}/{config.arch} alpha={config.alpha:g} seed={config.seed}"
    return f"{config.dataset}/{config.arch} {len(members)} runs together"


def _train_together(members: Sequence[_Member], device: torch.device, progress: bool) -> None:
    """Train runs that share architecture, protocol and next epoch as one network to completion."""
    config, info = members[0].config, members[0].splits.info
    if len({len(m.splits.train) for m in members}) > 1:
        raise SelrobError("runs trained together need training sets of one size")
    model = channels_last(StackedModels([m.model for m in members]))
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    if members[0].optimizer_state is not None:
        _load_optimizer_states(model, optimizer, [m.optimizer_state for m in members])  # type: ignore[misc]
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    first = members[0].state.next_epoch
    epochs = progress_bar(
        range(first, config.epochs), initial=first, total=config.epochs,
        desc=_label(members), unit="epoch", disable=not progress, leave=False,
    )
    for epoch in epochs:
        started = time.perf_counter()
        lr = learning_rate(config, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        rows = _train_epoch(model, optimizer, members, info.num_classes, epoch, device)
        accuracies = evaluate_accuracies(model, [m.splits.val for m in members])
        # Each run's share of the epoch: summed over runs, the seconds are the sweep's.
        seconds = (time.perf_counter() - started) / len(members)
        # A robust run keeps an epoch trained at its full adversarial budget, never a warm-up one
        # (a run shorter than its warm-up keeps its last epoch).
        warming_up = (config.adversarial_steps is not None and adversarial_budget_scale(config, epoch) < 1
                      and epoch < config.epochs - 1)
        optimizer_states = _optimizer_states(model, optimizer)
        for index, (member, row, accuracy) in enumerate(zip(members, rows, accuracies)):
            state = member.state
            state.history.append({"epoch": epoch, "lr": lr, **row, "val_accuracy": accuracy, "seconds": seconds})
            weights = model.model_state_dict(index)
            if accuracy > state.best_val_accuracy and not warming_up:
                state.best_val_accuracy, state.best_epoch = accuracy, epoch
                save_torch(weights, member.run.best_path)
            state.next_epoch = epoch + 1
            save_torch({"model": weights, "optimizer": optimizer_states[index], "state": vars(state)},
                       member.run.last_path)
            _write_metrics(member.run.metrics_path, state.history)
        epochs.set_postfix(loss=f"{sum(r['train_loss'] for r in rows) / len(rows):.3f}",
                           val=f"{sum(accuracies) / len(accuracies):.3f}")
    epochs.close()
    for member in members:
        _finish(member, device, len(members))


def check_trainable_together(configs: Sequence[TrainConfig]) -> None:
    """One-line error unless ``configs`` differ only in alpha and seed (the models of one sweep)."""
    first = configs[0]
    for config in configs[1:]:
        if (config.dataset, config.arch, config.protocol_key()) != (first.dataset, first.arch, first.protocol_key()):
            raise SelrobError(f"runs trained together must share dataset, architecture and protocol: "
                              f"alpha={config.alpha:g} seed={config.seed} differs from alpha={first.alpha:g} "
                              f"seed={first.seed}")


def train_runs(
    configs: Sequence[TrainConfig],
    runs_root: str | Path | None = None,
    data_root: str | Path | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> list[Run]:
    """Train runs of one sweep together as one network (:mod:`selrob.models.stacked`), each with its
    own data order, augmentation, initialisation, alpha, optimizer state, best-validation
    selection, metrics and run folder, exactly as :func:`train_run` would alone up to the
    summation order of grouped kernels. Finished runs are skipped; interrupted ones resume from
    their ``last.pt``, grouped by the epoch they resume at."""
    if not configs:
        return []
    check_trainable_together(configs)
    device = resolve_device(device)
    runs = [Run.for_config(c, runs_root) for c in configs]
    members = [_prepare(c, runs_root, data_root, device) for c, run in zip(configs, runs) if not run.is_finished()]
    for next_epoch in sorted({m.state.next_epoch for m in members}):
        _train_together([m for m in members if m.state.next_epoch == next_epoch], device, progress)
    return runs


def train_run(
    config: TrainConfig,
    runs_root: str | Path | None = None,
    data_root: str | Path | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> Run:
    """Train ``config`` to completion (resuming or skipping as needed) and return its run folder."""
    return train_runs([config], runs_root, data_root, device, progress)[0]
