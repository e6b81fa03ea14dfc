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


def entry(source: ModelSource, kind: str, params: dict[str, object]) -> CacheEntry:
    """The cache entry of ``kind`` with ``params`` in ``source``'s evaluations folder."""
    return CacheEntry(source.evaluations_dir, kind, params)
