"""Robustness to natural adversarial examples (appendix A.6, Figure A15): accuracy on ImageNet-A's
classes shared with Tiny ImageNet, predictions restricted to those classes (chance = 1 / 74)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from selrob.analysis.cache import cached_result
from selrob.data.base import ImageSet
from selrob.data.batches import iterate_batches, to_unit_float
from selrob.data.imagenet_a import NaturalAdversarialSet
from selrob.device import resolve_device
from selrob.runs import Run


@torch.no_grad()
def restricted_accuracy(model: nn.Module, data: ImageSet, class_indices: Sequence[int], batch_size: int = 500) -> float:
    """Top-1 accuracy when the prediction is the arg-max over the logits of ``class_indices``
    only (``data.labels`` are indices into the model's full output)."""
    model.eval()
    index = torch.as_tensor(list(class_indices), device=data.labels.device)
    correct = 0
    for images, labels in iterate_batches(data, batch_size):
        predicted = index[model(to_unit_float(images))[:, index].argmax(dim=1)]
        correct += int((predicted == labels).sum())
    return correct / max(len(data), 1)


def evaluate_natural_adversarial(run: Run, natural: NaturalAdversarialSet, device: str | torch.device | None = None) -> float:
    """``run``'s restricted accuracy on ``natural``, cached in the run folder."""

    def compute() -> float:
        target = resolve_device(device)
        return restricted_accuracy(run.load_model(target), natural.data.to(target), natural.class_indices)

    params = {"set": "imagenet-a shared with tinyimagenet", "fingerprint": natural.fingerprint}
    return cached_result(run.evaluations_dir, "natural-adversarial", params, compute)
