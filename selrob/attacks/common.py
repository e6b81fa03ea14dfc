"""What every attack shares: eval mode for the attacked models, the loss, optional bf16, and
accuracy over a whole image set from per-batch correctness."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn
from selrob.progress import progress_bar

from selrob.data.base import ImageSet
from selrob.data.batches import iterate_batches, to_unit_float


@contextlib.contextmanager
def eval_mode(*models: nn.Module) -> Iterator[None]:
    """Put ``models`` in eval mode (BatchNorm on running statistics, so samples are independent
    and attacks are deterministic) and restore each one's mode afterwards, as torchattacks does."""
    modes = [model.training for model in models]
    for model in models:
        model.eval()
    try:
        yield
    finally:
        for model, mode in zip(models, modes):
            model.train(mode)


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager[object]:
    """bf16 autocast on ``device`` when ``enabled`` (mixed precision is an option, off by default)."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def attack_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy in float32, the loss FGSM and PGD ascend (torchattacks' choice too)."""
    return nn.functional.cross_entropy(logits.float(), labels)


def per_image(
    data: ImageSet,
    correct_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    batch_size: int,
    progress: bool = False,
    desc: str = "attack",
    device: torch.device | None = None,
) -> torch.Tensor:
    """``correct_fn(images in [0, 1], labels)`` over ``data`` batch by batch: it returns a tensor
    ``(..., batch)`` (whether each image is classified right, or its prediction), the result is
    ``(..., len(data))`` on the CPU. With ``device``, each batch moves there (``data`` stays
    where it is: a memory-mapped ImageNet is 7.5 GB)."""
    parts = [correct_fn(to_unit_float(images.to(device)), labels.to(device)).cpu()
             for images, labels in progress_bar(iterate_batches(data, batch_size), total=-(-len(data) // batch_size),
                                                desc=desc, unit="batch", disable=not progress, leave=False)]
    if not parts:
        raise ValueError("cannot attack an empty image set")
    return torch.cat(parts, dim=-1)


def attack_accuracy(
    data: ImageSet,
    correct_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    batch_size: int,
    progress: bool = False,
    desc: str = "attack",
) -> torch.Tensor:
    """Accuracy over ``data`` from a bool ``correct_fn`` as in :func:`per_image`; shape ``(...)``
    (one accuracy per epsilon or step)."""
    return per_image(data, correct_fn, batch_size, progress, desc).double().mean(dim=-1)


def check_budget(epsilon: float, step_size: float, steps: int) -> None:
    """Refuse negative attack parameters (every iterative attack's first check)."""
    if steps < 0 or epsilon < 0 or step_size < 0:
        raise ValueError("steps, epsilon and step_size must be non-negative")
