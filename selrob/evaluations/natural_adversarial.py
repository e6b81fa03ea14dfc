"""Robustness to natural adversarial examples (appendix A.6, Figure A15): accuracy on ImageNet-A's
classes shared with Tiny ImageNet, predictions restricted to those classes (chance = 1 / 74)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from selrob.data.imagenet_a import without_shared_classes
from selrob.device import resolve_device
from selrob.evaluations.common import entry
from selrob.evaluations.registry import Evaluation, EvaluationContext, register
from selrob.measures.evaluate import restricted_accuracy
from selrob.store.cache import CacheEntry
from selrob.store.sources import ModelSource


def natural_entry(source: ModelSource, context: EvaluationContext) -> CacheEntry:
    return entry(source, "natural-adversarial",
                 {"set": "imagenet-a shared with tinyimagenet", "fingerprint": context.natural.fingerprint})


def evaluate_natural_adversarial(source: ModelSource, context: EvaluationContext) -> float:
    """``source``'s restricted accuracy on ImageNet-A's shared classes."""

    def compute() -> float:
        device = resolve_device(context.device)
        natural = context.natural
        return restricted_accuracy(source.load_model(device), natural.data.to(device), natural.class_indices)

    return natural_entry(source, context).get_or_compute(compute)


def natural_rows(accuracy: float, context: EvaluationContext) -> Iterator[dict[str, Any]]:
    yield {"accuracy": accuracy, "chance": 1 / len(context.natural.class_indices)}


NATURAL_ADVERSARIAL = register(Evaluation(
    name="natural-adversarial", description="accuracy on ImageNet-A's classes shared with Tiny ImageNet (Figure A15)",
    columns=("accuracy", "chance"), value="accuracy", evaluate=evaluate_natural_adversarial, rows=natural_rows,
    is_cached=lambda source, context: natural_entry(source, context).exists(), unavailable=without_shared_classes,
))
