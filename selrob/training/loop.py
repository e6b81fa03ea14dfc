"""Resumable training with the selectivity regularizer (paper appendix A.1.1).

One call trains one run to completion: it resumes from ``last.pt`` after an interruption, skips
runs that are finished, and keeps the weights of the best-validation epoch. Every epoch draws its
shuffling and augmentation from a generator seeded by ``(seed, epoch)``, so a resumed run on the
CPU ends bit-for-bit where an uninterrupted one does.
"""

from __future__ import annotations

import contextlib
import csv
import io
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from selrob.progress import progress_bar

from selrob.measures.evaluate import evaluate_accuracy, evaluate_clean
from selrob.measures.units import UnitRecorder
from selrob.attacks import pgd_attack, pgd_l2_attack
from selrob.data import load_splits
from selrob.data.base import ImageSet
from selrob.data.batches import iterate_batches, pad_crop_flip, to_unit_float
from selrob.device import device_description, resolve_device
from selrob.io import load_torch, save_torch, write_json, write_text
from selrob.models import NormalizedModel, build_model
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
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    alpha: float,
    num_classes: int,
    eps: float,
    units: UnitRecorder | None,
    augmix: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One SGD step on Eq. 2 (bf16 autocast on CUDA); ``units`` must be recording when alpha != 0.

    With ``augmix``, ``inputs`` stacks the clean batch and its two AugMix views, and the loss is
    the clean cross-entropy plus 12 times their Jensen-Shannon consistency (alpha is 0).
    Returns the detached ``(loss, cross_entropy, mu_si, logits)``, logits of the clean batch.
    """
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if inputs.device.type == "cuda" else contextlib.nullcontext()
    )
    with autocast:
        logits = model(inputs)
    if augmix:
        logits, *views = logits.chunk(3)
        loss, cross_entropy, mu_si = selectivity_regularized_loss(logits, labels, [], 0.0, num_classes, eps)
        loss = loss + JSD_WEIGHT * jensen_shannon_consistency(logits, *views)
    else:
        layer_units = units.activations if units is not None else []
        loss, cross_entropy, mu_si = selectivity_regularized_loss(logits, labels, layer_units, alpha, num_classes, eps)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach(), cross_entropy.detach(), mu_si.detach(), logits.detach()


def pgd_training_examples(model: torch.nn.Module, inputs: torch.Tensor, labels: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    """PGD training's inputs (appendix A.7; Madry et al. 2018 train on these alone): the test
    attack, no random start, made with the model in eval mode (its BatchNorm statistics are not
    updated by the attack's passes); bf16 on CUDA like the training step."""
    assert config.pgd_steps is not None and config.pgd_epsilon is not None and config.pgd_step_size is not None
    return pgd_attack(model, inputs, labels, config.pgd_epsilon, config.pgd_step_size, config.pgd_steps,
                      amp=inputs.device.type == "cuda").adversarial


def adversarial_budget_scale(config: TrainConfig, epoch: int) -> float:
    """The share of the adversarial budget (epsilon and step size) used in ``epoch``: with
    ``adversarial_warmup`` W it grows linearly, (epoch + 1) / W, to the full budget at epoch W - 1."""
    warmup = config.adversarial_warmup or 1
    return min(1.0, (epoch + 1) / warmup)


def adversarial_training_examples(model: torch.nn.Module, inputs: torch.Tensor, labels: torch.Tensor,
                                  config: TrainConfig, epoch: int) -> torch.Tensor:
    """The second paper's adversarial training inputs (Madry et al. 2018 with the robustness
    library's L2 PGD: normalised steps, projection, no random start, the highest-loss iterate),
    made with the model in eval mode; bf16 on CUDA like the training step."""
    assert config.adversarial_steps is not None and config.adversarial_epsilon is not None
    assert config.adversarial_step_size is not None
    scale = adversarial_budget_scale(config, epoch)
    return pgd_l2_attack(model, inputs, labels, scale * config.adversarial_epsilon, scale * config.adversarial_step_size,
                         config.adversarial_steps, amp=inputs.device.type == "cuda")


def _train_epoch(
    model: NormalizedModel,
    optimizer: torch.optim.Optimizer,
    train: ImageSet,
    config: TrainConfig,
    num_classes: int,
    epoch: int,
    device: torch.device,
) -> dict[str, float]:
    model.train()
    generator = epoch_generator(config.seed, epoch)
    totals = torch.zeros(4, dtype=torch.float64, device=device)  # loss, ce, si, correct
    count = 0
    # The regularizer needs the units; without it the hooks would only cost time.
    recorder = UnitRecorder(model) if config.alpha != 0.0 else contextlib.nullcontext()
    with recorder as units:
        for images, labels in iterate_batches(train, config.batch_size, generator, drop_last=True):
            inputs = pad_crop_flip(to_unit_float(images), config.crop_padding, config.hflip, generator)
            if config.augmix:
                rng = augmix_numpy_rng(generator)
                inputs = torch.cat([inputs, augment_and_mix(inputs, rng), augment_and_mix(inputs, rng)])
            elif config.pgd_steps is not None:
                inputs = pgd_training_examples(model, inputs, labels, config)
            elif config.adversarial_steps is not None:
                inputs = adversarial_training_examples(model, inputs, labels, config, epoch)
            loss, cross_entropy, mu_si, logits = training_step(
                model, optimizer, inputs, labels, config.alpha, num_classes, config.si_eps, units, config.augmix
            )
            n = labels.shape[0]
            correct = (logits.argmax(dim=1) == labels).sum()
            totals += torch.stack([loss * n, cross_entropy * n, mu_si * n, correct]).double()
            count += n
    loss_mean, ce_mean, si_mean, accuracy = (totals / max(count, 1)).tolist()
    return {"train_loss": loss_mean, "train_ce": ce_mean, "train_selectivity": si_mean, "train_accuracy": accuracy}


def _write_metrics(path: Path, history: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    write_text(path, buffer.getvalue())


def train_run(
    config: TrainConfig,
    runs_root: str | Path | None = None,
    data_root: str | Path | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> Run:
    """Train ``config`` to completion (resuming or skipping as needed) and return its run folder."""
    run = Run.for_config(config, runs_root)
    if run.is_finished():
        return run
    state = TrainState()
    checkpoint = load_torch(run.last_path) if run.last_path.is_file() else None
    if run.config_path.is_file():
        check_config_matches(run, config)
    device = resolve_device(device)
    splits = load_splits(
        config.dataset, config.seed, config.val_per_class, data_root,
        config.max_train_samples, config.max_eval_samples,
    )
    info = splits.info
    torch.manual_seed(config.seed)
    model = build_model(
        config.arch, num_classes=info.num_classes, in_channels=info.in_channels, mean=info.mean, std=info.std
    ).to(device)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        state = TrainState(**checkpoint["state"])
    else:
        write_json(run.config_path, config.to_dict())
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    train, val, test = splits.train.to(device), splits.val.to(device), splits.test.to(device)

    label = f"{config.dataset}/{config.arch} alpha={config.alpha:g} seed={config.seed}"
    epochs = progress_bar(
        range(state.next_epoch, config.epochs), initial=state.next_epoch, total=config.epochs,
        desc=label, unit="epoch", disable=not progress, leave=False,
    )
    for epoch in epochs:
        started = time.perf_counter()
        lr = learning_rate(config, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        row: dict[str, Any] = {"epoch": epoch, "lr": lr}
        row.update(_train_epoch(model, optimizer, train, config, info.num_classes, epoch, device))
        row["val_accuracy"] = evaluate_accuracy(model, val)
        row["seconds"] = time.perf_counter() - started
        state.history.append(row)
        # A robust run keeps an epoch trained at its full adversarial budget, never a warm-up one
        # (a run shorter than its warm-up keeps its last epoch).
        warming_up = (config.adversarial_steps is not None and adversarial_budget_scale(config, epoch) < 1
                      and epoch < config.epochs - 1)
        if row["val_accuracy"] > state.best_val_accuracy and not warming_up:
            state.best_val_accuracy, state.best_epoch = row["val_accuracy"], epoch
            save_torch(model.state_dict(), run.best_path)
        state.next_epoch = epoch + 1
        save_torch(
            {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "state": vars(state)},
            run.last_path,
        )
        _write_metrics(run.metrics_path, state.history)
        epochs.set_postfix(loss=f"{row['train_loss']:.3f}", val=f"{row['val_accuracy']:.3f}")
    epochs.close()

    model.load_state_dict(load_torch(run.best_path))
    clean = evaluate_clean(model, test, info.num_classes)
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
            "device": device_description(device),
            "torch_version": torch.__version__,
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    )
    run.last_path.unlink(missing_ok=True)
    return run
