"""Accuracy under the second paper's L2 PGD attack per test image (its Table 1): the robustness
library's semantics (:func:`selrob.attacks.pgd_l2_attack`: normalised steps, projection, no
random start, the highest-loss iterate), epsilon 3 / step 0.5 / 7 steps on ImageNet and the same
budget scaled to smaller images (:func:`selrob.attacks.l2_attack_preset`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from selrob.attacks import l2_attack_preset, per_image, pgd_l2_attack
from selrob.evaluations.common import entry, per_image_batches
from selrob.evaluations.registry import Evaluation, EvaluationContext, register
from selrob.store.cache import CacheEntry
from selrob.store.sources import ModelSource


#: Test images attacked per model, by dataset (others: all of them): the first 500 of the world's
#: 1,000 keep its three studies within the 2-core time budget (7 steps per image).
ATTACKED_IMAGES: dict[str, int] = {"shapes": 500}


def attacked_images(source: ModelSource) -> int | None:
    """How many of ``source``'s test images are attacked (the first ones; ``None``: all): its
    ``eval_samples`` or its dataset's :data:`ATTACKED_IMAGES`, the fewer."""
    return min((n for n in (source.eval_samples, ATTACKED_IMAGES.get(source.dataset)) if n is not None), default=None)


def l2_pgd_entry(source: ModelSource, context: EvaluationContext) -> CacheEntry:
    return entry(source, "l2-pgd", {**l2_attack_preset(source.dataset).params(), "images": attacked_images(source),
                                    "amp": context.settings.amp})


def evaluate_l2_pgd(source: ModelSource, context: EvaluationContext) -> list[bool]:
    """Per test image: whether the model classifies its L2 PGD adversarial example right."""

    def compute() -> list[bool]:
        model, data, batch_size, device = per_image_batches(source, context)
        data = data.head(attacked_images(source))
        attack, amp = l2_attack_preset(source.dataset), context.settings.amp

        def correct(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            adversarial = pgd_l2_attack(model, x, y, attack.epsilon, attack.step_size, attack.steps, amp=amp)
            with torch.no_grad():
                return model(adversarial).argmax(dim=1) == y

        return per_image(data, correct, batch_size, context.settings.progress, "L2 PGD", device).tolist()

    return l2_pgd_entry(source, context).get_or_compute(compute)


def l2_pgd_rows(result: list[bool], context: EvaluationContext) -> Iterator[dict[str, Any]]:
    return ({"image": image, "correct": correct} for image, correct in enumerate(result))


L2_PGD = register(Evaluation(
    name="l2-pgd", description="per test image, correct under the second paper's L2 PGD attack (Table 1)",
    columns=("image", "correct"), value="correct", evaluate=evaluate_l2_pgd, rows=l2_pgd_rows,
    is_cached=lambda source, context: l2_pgd_entry(source, context).exists(), headline_label="adversarial accuracy",
))
