"""Representational dimensionality of a network's layers (section 4.4, appendix A.1.4, A.9;
Figure 4, A20-A22), as pure functions of activation matrices.

Per ReLU layer, the activation matrix is test images x units (units spatially averaged);
"difference matrices" are perturbed minus clean activations of the same images. Two measures,
each divided by the layer's units: linear (PCA components for each variance threshold,
:mod:`selrob.measures.pca_dimensionality`) and intrinsic (TwoNN,
:mod:`selrob.measures.intrinsic_dimension`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from selrob.attacks.common import eval_mode
from selrob.data.base import ImageSet
from selrob.data.batches import iterate_batches, to_unit_float
from selrob.errors import SelrobError
from selrob.measures.intrinsic_dimension import two_nn_dimension
from selrob.measures.pca_dimensionality import DEFAULT_THRESHOLDS, pca_dimensionality
from selrob.measures.units import UnitRecorder

#: One entry per layer: ``{"units": U, "pca": [fraction per threshold], "twonn": fraction}``.
LayerDimensions = list[dict[str, Any]]
BATCH_SIZE = 500


@dataclass(frozen=True)
class DimensionalitySettings:
    """What a dimensionality result depends on besides the model and the perturbation."""

    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS
    twonn_fit_fraction: float = 0.9

    def __post_init__(self) -> None:
        if not self.thresholds or not all(0 < t < 1 for t in self.thresholds):
            raise SelrobError(f"variance thresholds lie strictly between 0 and 1, got {list(self.thresholds)}")
        if not 0 < self.twonn_fit_fraction < 1:
            raise SelrobError(f"the TwoNN fit fraction lies strictly between 0 and 1, got {self.twonn_fit_fraction}")

    def params(self) -> dict[str, Any]:
        return {**asdict(self), "thresholds": list(self.thresholds), "measure": "pca+twonn of spatially averaged ReLU units"}


def layer_activations(model: torch.nn.Module, batches: Iterable[torch.Tensor],
                      layers: Sequence[str] | None = None) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Every ReLU layer's (or each of ``layers``') activation matrix (samples x units, float32) of
    ``batches`` of [0, 1] images, in eval mode, and the logits of the same pass."""
    parts: list[list[torch.Tensor]] = []
    logits: list[torch.Tensor] = []
    with eval_mode(model), torch.no_grad(), UnitRecorder(model, layers) as recorder:
        for images in batches:
            logits.append(model(images))
            parts.append([a.float() for a in recorder.activations])
    return [torch.cat(layer) for layer in zip(*parts)], torch.cat(logits)


def image_batches(data: ImageSet, batch_size: int = BATCH_SIZE) -> Iterable[torch.Tensor]:
    """[0, 1] float batches of a uint8 image set, in order."""
    return (to_unit_float(images) for images, _ in iterate_batches(data, batch_size))


def measure_layers(matrices: Sequence[torch.Tensor], settings: DimensionalitySettings) -> LayerDimensions:
    """Linear and intrinsic dimensionality of each matrix as fractions of its units. TwoNN is
    NaN where fewer than two points are distinct enough to fit (e.g. an unchanged layer)."""
    return [
        {"units": int(m.shape[1]), "pca": pca_dimensionality(m, settings.thresholds),
         "twonn": two_nn_dimension(m, settings.twonn_fit_fraction, m.device) / m.shape[1]}
        for m in matrices
    ]


def difference_dimensionality(clean: Sequence[torch.Tensor], perturbed: Sequence[torch.Tensor],
                              settings: DimensionalitySettings) -> LayerDimensions:
    """Dimensionality of the difference matrices ``perturbed - clean``, layer by layer."""
    return measure_layers([p - c for c, p in zip(clean, perturbed)], settings)
