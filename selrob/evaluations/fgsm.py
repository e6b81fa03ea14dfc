"""Accuracy under FGSM at every epsilon of the attack settings (section 4.2, Figure 2a, A12a, A13a)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd

from selrob.attacks import attack_accuracy, fgsm_correct
from selrob.evaluations.common import BATCH_SIZE, entry, model_and_test_set
from selrob.evaluations.pgd import ATTACK, attack_of
from selrob.evaluations.registry import Evaluation, EvaluationContext, register
from selrob.store.cache import CacheEntry
from selrob.store.sources import ModelSource


def fgsm_entry(source: ModelSource, context: EvaluationContext) -> CacheEntry:
    return entry(source, "fgsm", {**attack_of(context).fgsm_params(), "amp": context.settings.amp})


def evaluate_fgsm(source: ModelSource, context: EvaluationContext) -> list[float]:
    """Test accuracy under FGSM at each of ``attack_of(context).fgsm_epsilons``."""

    def compute() -> list[float]:
        model, data = model_and_test_set(source, context)
        epsilons, amp = attack_of(context).fgsm_epsilons, context.settings.amp
        return attack_accuracy(data, lambda x, y: fgsm_correct(model, x, y, epsilons, amp), BATCH_SIZE,
                               context.settings.progress, "FGSM").tolist()

    return fgsm_entry(source, context).get_or_compute(compute)


def fgsm_rows(result: list[float], context: EvaluationContext) -> Iterator[dict[str, Any]]:
    return ({"epsilon": eps, "accuracy": acc} for eps, acc in zip(attack_of(context).fgsm_epsilons, result))


def largest_epsilon(table: pd.DataFrame) -> pd.DataFrame:
    """The rows at the largest epsilon: Figure 2a's headline, where the paper's ordering shows
    (small epsilons mostly repeat clean accuracy, section 4.2)."""
    return table[table["epsilon"] == table["epsilon"].max()]


FGSM = register(Evaluation(
    name="fgsm", description="accuracy under FGSM per epsilon (Figure 2a, A12a, A13a)",
    columns=("epsilon", "accuracy"), value="accuracy", evaluate=evaluate_fgsm, rows=fgsm_rows,
    is_cached=lambda source, context: fgsm_entry(source, context).exists(),
    headline=largest_epsilon, headline_label="at the largest epsilon",
    parameters=(ATTACK,),
))
