"""What every per-source evaluation starts with: its model and test set on the chosen device, and
its cache (whole, or in cells that resume)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from selrob.attacks import per_image
from selrob.data.base import ImageSet
from selrob.device import resolve_device
from selrob.evaluations.registry import EvaluationContext
from selrob.distortions.segmentation import sixteen_class_images
from selrob.measures.human_categories import IMAGENET_INDICES
from selrob.progress import progress_bar
from selrob.store.cache import CacheEntry, missing_cells
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
    return source.load_model(device), data, batch_size_for(data), device


def batch_size_for(data: ImageSet) -> int:
    """Images per batch for ``data``'s image size: 500 of 32 x 32 x 3 values, at least 64."""
    values = int(data.images[0].numel())
    return max(64, min(BATCH_SIZE, BATCH_SIZE * 3 * 32 * 32 // values))


@torch.no_grad()
def top1_predictions(model: torch.nn.Module, data: ImageSet, batch_size: int = BATCH_SIZE, progress: bool = False,
                     desc: str = "predictions", device: torch.device | None = None) -> torch.Tensor:
    """The model's top-1 class for every image of ``data``, batch by batch (int64, on the CPU)."""
    return per_image(data, lambda x, y: model(x).argmax(dim=1), batch_size, progress, desc, device)


def sixteen_class_top1(model: torch.nn.Module, data: ImageSet, batch_size: int = BATCH_SIZE,
                       device: torch.device | None = None) -> torch.Tensor:
    """The category among Geirhos et al.'s 16 of a 1000-class ImageNet model's top-1 class for
    every image of ``data`` (-1 where it is in none): the second paper's rule for silhouettes and
    stylized images, "correct if its ImageNet predicted label is a subclass of the correct class"."""
    return sixteen_class_images(top1_predictions(model, data, batch_size, device=device), IMAGENET_INDICES)


def resumable_cells(source: ModelSource, context: EvaluationContext, cache: CacheEntry, names: Sequence[str],
                    compute: Callable[[torch.nn.Module, str, torch.device], Any], desc: str, unit: str,
                    stored: Callable[[str, Any], None] | None = None) -> dict[str, Any]:
    """The cells ``names`` of ``cache``: the missing ones computed one at a time by
    ``compute(model, name, device)`` and stored as soon as each is done, so an interrupted
    evaluation resumes; ``stored(name, cell)`` runs after each (e.g. to fill another cache)."""
    cells = cache.cells()
    todo = missing_cells(cells, names)
    if todo:
        device = resolve_device(context.device)
        model = source.load_model(device)
        for name in progress_bar(todo, desc=f"{desc} {source.name}", unit=unit, disable=not context.settings.progress,
                                 leave=False):
            cells[name] = compute(model, name, device)
            cache.write_cells(cells)
            if stored is not None:
                stored(name, cells[name])
    return {name: cells[name] for name in names}


def entry(source: ModelSource, kind: str, params: dict[str, object]) -> CacheEntry:
    """The cache entry of ``kind`` with ``params`` in ``source``'s evaluations folder."""
    return CacheEntry(source.evaluations_dir, kind, params)
