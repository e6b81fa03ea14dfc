"""Accuracy after every PGD step 0..steps, from one attack pass (section 4.2, Figure 2b, A12b, A13b)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pandas as pd
import torch

from selrob.attacks import PGDResult, attack_accuracy, pgd_attack
from selrob.attacks.settings import AttackSettings, attack_settings
from selrob.evaluations.common import BATCH_SIZE, entry, model_and_test_set
from selrob.evaluations.registry import (Evaluation, EvaluationContext, ParameterGroup, of_type, register,
                                        register_parameters)
from selrob.store.cache import CacheEntry
from selrob.store.sources import ModelSource

#: The attacks' strengths and steps (:class:`~selrob.attacks.settings.AttackSettings`), shared by
#: FGSM, PGD, the masking check and the dimensionality of PGD differences: the dataset's preset
#: unless a notebook gives others.
ATTACK = register_parameters(ParameterGroup("attack", default=lambda dataset, smoke: attack_settings(dataset, smoke=smoke),
                                            check=of_type(AttackSettings, "attack")))


def attack_of(context: EvaluationContext) -> AttackSettings:
    """The attack settings of ``context``."""
    return context.parameter(ATTACK)


def pgd_generator(seed: int) -> torch.Generator:
    """The CPU generator of PGD's random start (used only with ``random_start``)."""
    return torch.Generator().manual_seed(seed)


def pgd_entry(source: ModelSource, context: EvaluationContext) -> CacheEntry:
    """Where ``source``'s PGD curve is cached (also written by the evaluations that fill it)."""
    return entry(source, "pgd", {**attack_of(context).pgd_params(), "amp": context.settings.amp})


def settings_pgd(
    model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, settings: AttackSettings,
    generator: torch.Generator, amp: bool, observers: Sequence[torch.nn.Module] = (),
) -> PGDResult:
    """:func:`selrob.attacks.pgd_attack` with the PGD parameters of ``settings``."""
    return pgd_attack(model, images, labels, settings.pgd_epsilon, settings.pgd_step_size, settings.pgd_steps,
                      settings.random_start, generator, observers, amp)


def evaluate_pgd(source: ModelSource, context: EvaluationContext) -> list[float]:
    """Test accuracy after PGD steps 0, 1, ..., ``attack_of(context).pgd_steps``."""

    def compute() -> list[float]:
        model, data = model_and_test_set(source, context)
        generator = pgd_generator(source.seed)
        attack, amp = attack_of(context), context.settings.amp
        return attack_accuracy(data, lambda x, y: settings_pgd(model, x, y, attack, generator, amp).correct,
                               BATCH_SIZE, context.settings.progress, "PGD").tolist()

    return pgd_entry(source, context).get_or_compute(compute)


def pgd_rows(result: list[float], context: EvaluationContext) -> Iterator[dict[str, Any]]:
    return ({"step": step, "accuracy": acc} for step, acc in enumerate(result))


def last_step(table: pd.DataFrame) -> pd.DataFrame:
    """The rows after the last PGD step: the headline of Figure 2b and of the masking check."""
    return table[table["step"] == table["step"].max()]


PGD = register(Evaluation(
    name="pgd", description="accuracy after every PGD step (Figure 2b, A12b, A13b)",
    columns=("step", "accuracy"), value="accuracy", evaluate=evaluate_pgd, rows=pgd_rows,
    is_cached=lambda source, context: pgd_entry(source, context).exists(),
    headline=last_step, headline_label="after the last step",
    parameters=(ATTACK,),
))
