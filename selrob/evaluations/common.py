"""What every per-source evaluation starts with: its model and test set on the chosen device."""

from __future__ import annotations

import torch

from selrob.data.base import ImageSet
from selrob.device import resolve_device
from selrob.evaluations.registry import EvaluationContext
from selrob.store.cache import CacheEntry
from selrob.store.sources import ModelSource

#: Images per batch of the attacks and the Jacobian.
BATCH_SIZE = 500


def model_and_test_set(source: ModelSource, context: EvaluationContext) -> tuple[torch.nn.Module, ImageSet]:
    """``source``'s model in eval mode and its test set, both on the context's device."""
    device = resolve_device(context.device)
    return source.load_model(device), source.test_set(context.data_root).to(device)


def per_image_batches(source: ModelSource, context: EvaluationContext) -> tuple[torch.nn.Module, ImageSet, int, torch.device]:
    """``source``'s model on the context's device, its test set left where it is (moved batch by
    batch, :func:`selrob.attacks.per_image`), and a batch size for its image size: 500 images of
    32 x 32 x 3 values, at least 64 (ImageNet's 224 px: 64, for L2 PGD through a ResNet-50)."""
    device = resolve_device(context.device)
    data = source.test_set(context.data_root)
    values = int(data.images[0].numel())
    return source.load_model(device), data, max(64, min(BATCH_SIZE, BATCH_SIZE * 3 * 32 * 32 // values)), device


def entry(source: ModelSource, kind: str, params: dict[str, object]) -> CacheEntry:
    """The cache entry of ``kind`` with ``params`` in ``source``'s evaluations folder."""
    return CacheEntry(source.evaluations_dir, kind, params)
