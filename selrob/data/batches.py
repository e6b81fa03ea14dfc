"""Minibatches from tensors that stay resident on the training device, with batched augmentation.

Small datasets (digits, CIFAR-10, Tiny ImageNet as uint8) fit in GPU memory, so a worker-based
DataLoader would only add copies. Random numbers come from a CPU ``torch.Generator`` so a seed
gives the same batches and crops on every device.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from selrob.data.base import ImageSet


def to_unit_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 in [0, 1]."""
    return images.float().div_(255.0)


def iterate_batches(
    data: ImageSet,
    batch_size: int,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(uint8 images, labels)`` batches, shuffled when a generator is given."""
    n = len(data)
    order = torch.randperm(n, generator=generator).to(data.labels.device) if generator is not None else None
    stop = n - n % batch_size if drop_last and n > batch_size else n
    for start in range(0, stop, batch_size):
        if order is None:
            yield data.images[start : start + batch_size], data.labels[start : start + batch_size]
        else:
            index = order[start : start + batch_size]
            yield data.images[index], data.labels[index]


def pad_crop_flip(
    images: torch.Tensor, padding: int, hflip: bool, generator: torch.Generator
) -> torch.Tensor:
    """Random crop after zero padding by ``padding`` pixels, and a random horizontal flip.

    The standard CIFAR augmentation, done for the whole batch at once on its device.
    """
    batch, _, height, width = images.shape
    device = images.device
    if padding > 0:
        padded = torch.nn.functional.pad(images, (padding,) * 4)
        offsets = torch.randint(0, 2 * padding + 1, (2, batch), generator=generator).to(device)
        rows = offsets[0, :, None] + torch.arange(height, device=device)
        cols = offsets[1, :, None] + torch.arange(width, device=device)
        samples = torch.arange(batch, device=device)[:, None, None]
        # Advanced indexing puts the indexed dims first: (B, H, W, C) -> back to (B, C, H, W).
        images = padded[samples, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    if hflip:
        flip = (torch.rand(batch, generator=generator) < 0.5).to(device)
        images = torch.where(flip[:, None, None, None], images.flip(3), images)
    return images.contiguous()
