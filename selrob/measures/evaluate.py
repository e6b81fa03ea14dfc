"""Clean evaluation: accuracy and dataset-level class selectivity in one pass over a test set, and
accuracy with predictions restricted to a subset of classes (appendix A.6)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from selrob.measures.selectivity import ClassMeanAccumulator, class_selectivity_index
from selrob.measures.units import UnitRecorder
from selrob.data.base import ImageSet
from selrob.data.batches import iterate_batches, to_unit_float


@dataclass
class CleanEvaluation:
    """Accuracy and, per layer, the SI of every unit (Eq. 1 over the whole set, eps = 0)."""

    accuracy: float
    layer_names: list[str]
    selectivity: list[np.ndarray]
    dead_units: list[int]

    @property
    def layer_means(self) -> list[float]:
        """Mean SI over each layer's units."""
        return [float(si.mean()) for si in self.selectivity]

    @property
    def mean_selectivity(self) -> float:
        """Eq. 3: mean over layers of the per-layer means."""
        return float(np.mean(self.layer_means))


@torch.no_grad()
def evaluate_accuracy(model: nn.Module, data: ImageSet, batch_size: int = 1024) -> float:
    """Top-1 accuracy of ``model`` (put in eval mode) on ``data`` (on the model's device)."""
    return evaluate_accuracies(model, [data], batch_size)[0]


@torch.no_grad()
def evaluate_accuracies(model: nn.Module, sets: Sequence[ImageSet], batch_size: int = 1024) -> list[float]:
    """Top-1 accuracy of each of K models computed as one (:class:`selrob.models.stacked.StackedModels`,
    whose input is K equal blocks of rows, block k model k's) on its own set; all sets have one size."""
    if len({len(data) for data in sets}) > 1:
        raise ValueError("models evaluated together need sets of one size")
    model.eval()
    correct = torch.zeros(len(sets), dtype=torch.long, device=sets[0].labels.device)
    for batches in zip(*(iterate_batches(data, batch_size) for data in sets)):
        images = torch.cat([to_unit_float(images) for images, _ in batches])
        labels = torch.stack([labels for _, labels in batches])
        correct += (model(images).argmax(dim=1).view(labels.shape) == labels).sum(dim=1)
    return [int(c) / max(len(sets[0]), 1) for c in correct]


@dataclass
class LayerClassMeans:
    """Per layer (UnitRecorder's names), the (K, units) class-conditional mean activation of
    every unit over a dataset, the (K,) class counts and the number of correct top-1 decisions."""

    layer_names: list[str]
    class_means: list[torch.Tensor]
    counts: torch.Tensor
    correct: int


@torch.no_grad()
def layer_class_means(model: nn.Module, data: ImageSet, num_classes: int, batch_size: int = 1024,
                      layers: Sequence[str] | None = None) -> LayerClassMeans:
    """One pass over ``data`` streaming class sums and counts of every unit (float64) of every
    ReLU layer, or of ``layers`` (:class:`~selrob.measures.units.UnitRecorder`)."""
    model.eval()
    accumulator = ClassMeanAccumulator(num_classes)
    correct = 0
    with UnitRecorder(model, layers) as units:
        for images, labels in iterate_batches(data, batch_size):
            logits = model(to_unit_float(images))
            correct += int((logits.argmax(dim=1) == labels).sum())
            accumulator.update(units.activations, labels)
        names = list(units.layer_names)
    return LayerClassMeans(names, accumulator.class_means(), accumulator.counts, correct)


def evaluate_clean(model: nn.Module, data: ImageSet, num_classes: int, batch_size: int = 1024) -> CleanEvaluation:
    """Accuracy plus class selectivity of every unit, from streamed class sums and counts."""
    means = layer_class_means(model, data, num_classes, batch_size)
    present = means.counts > 0
    return CleanEvaluation(
        accuracy=means.correct / max(len(data), 1),
        layer_names=means.layer_names,
        selectivity=[class_selectivity_index(layer, present).numpy() for layer in means.class_means],
        dead_units=[int((layer.abs().sum(dim=0) == 0).sum()) for layer in means.class_means],
    )


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
