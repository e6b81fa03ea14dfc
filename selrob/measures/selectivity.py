"""Class selectivity index (paper section 3, Eq. 1) and the mean selectivity of Eq. 3.

    SI = (mu_max - mu_-max) / (mu_max + mu_-max + eps)

``mu_max`` is a unit's largest class-conditional mean activation and ``mu_-max`` the mean of the
other classes' means. Rules where the paper is silent:

* **Absent classes.** Means are taken over the classes *present* (count > 0): both ``mu_max`` and
  ``mu_-max`` ignore absent classes, as in the public follow-up code by overlapping authors. With
  fewer than two classes present the index is undefined and set to 0 (no gradient).
* **Dead units.** A unit whose class means are all 0 has SI = 0 (0/0 defined as 0), whatever eps.
* **eps.** Dataset-level analysis uses eps = 0, Eq. 1 exactly. The training regularizer uses a
  small eps (1e-6 by default, as in the public follow-up code) to bound gradients of near-dead
  units.

The dataset form streams class sums and counts (:class:`ClassMeanAccumulator`); the minibatch form
(:func:`mean_class_selectivity`) is differentiable. Both call :func:`class_selectivity_index`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch


def class_sums(units: torch.Tensor, labels: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(K, units) per-class sums of unit activations and (K,) class counts, in ``units``' dtype;
    leading dimensions of ``units`` (..., samples, units) and ``labels`` (..., samples) are kept."""
    one_hot = torch.nn.functional.one_hot(labels, num_classes).to(units.dtype)
    return one_hot.transpose(-1, -2) @ units, one_hot.sum(dim=-2)


def class_conditional_means(
    units: torch.Tensor, labels: torch.Tensor, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-class sums divided by counts of unit activations.

    Args:
        units: (samples, units) activations, or (..., samples, units) for several models at once.
        labels: (samples,) integer class labels, or (..., samples).
        num_classes: number of classes K.

    Returns:
        ``(means, counts)``: (K, units) class means (0 for absent classes) and (K,) counts, after
        the leading dimensions.
    """
    sums, counts = class_sums(units, labels, num_classes)
    return sums / counts.clamp(min=1).unsqueeze(-1), counts


def class_selectivity_index(
    class_means: torch.Tensor, present: torch.Tensor | None = None, eps: float = 0.0
) -> torch.Tensor:
    """Eq. 1 for every unit.

    Args:
        class_means: (K, units) class-conditional mean activations (non-negative, post-ReLU), or
            (..., K, units) for several models at once.
        present: (K,) (or (..., K)) bool mask of the classes to use; ``None`` means all K.
        eps: added to the denominator (0 = Eq. 1 exactly).

    Returns:
        (units,) (or (..., units)) selectivity indices in [0, 1].
    """
    if present is None:
        present = torch.ones(class_means.shape[:-1], dtype=torch.bool, device=class_means.device)
    # Masks instead of boolean indexing: no host-device synchronisation inside a training step.
    mask = present.unsqueeze(-1)
    n_present = present.sum(dim=-1, keepdim=True)
    mu_max = torch.where(mask, class_means, torch.full_like(class_means, -torch.inf)).max(dim=-2).values
    mu_rest = (torch.where(mask, class_means, 0.0).sum(dim=-2) - mu_max) / (n_present - 1).clamp(min=1)
    numerator = mu_max - mu_rest
    denominator = mu_max + mu_rest + eps
    defined = (denominator > 0) & (n_present >= 2)
    # Divide by 1 where SI is undefined so neither branch of `where` makes NaN gradients.
    safe = torch.where(defined, denominator, torch.ones_like(denominator))
    return torch.where(defined, numerator / safe, torch.zeros_like(numerator))


def mean_class_selectivity(
    layer_units: Sequence[torch.Tensor],
    labels: torch.Tensor,
    num_classes: int,
    eps: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 3 on one minibatch: mean over layers of the mean SI over each layer's units.

    Differentiable; the regularizer of Eq. 2 is ``-alpha`` times the first return value. All
    layers are concatenated and handled by one call of Eq. 1, which costs far fewer kernel
    launches than a loop over layers. Layers of (..., batch, units) and labels of (..., batch)
    give one value per leading index (several models trained as one, :mod:`selrob.models.stacked`).

    Returns:
        ``(mu_si, per_layer)``: a scalar and a (layers,) tensor of per-layer mean SI (after the
        leading dimensions).
    """
    sizes = [units.shape[-1] for units in layer_units]
    # Half-precision activations (mixed precision) are promoted; float64 stays float64.
    units = torch.cat([u.to(torch.promote_types(u.dtype, torch.float32)) for u in layer_units], dim=-1)
    means, counts = class_conditional_means(units, labels, num_classes)
    si = class_selectivity_index(means, counts > 0, eps)
    layer_of_unit, units_per_layer = _layer_index(tuple(sizes), si.device)
    per_layer = si.new_zeros(*si.shape[:-1], len(sizes)).index_add(-1, layer_of_unit, si) / units_per_layer
    return per_layer.mean(dim=-1), per_layer


@lru_cache(maxsize=16)
def _layer_index(sizes: tuple[int, ...], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Layer number of every concatenated unit, and units per layer; built once per model and
    device instead of on every training step (it would be a host-to-device copy each time)."""
    units_per_layer = torch.tensor(sizes, device=device)
    layer_of_unit = torch.repeat_interleave(torch.arange(len(sizes), device=device), units_per_layer)
    return layer_of_unit, units_per_layer


class ClassMeanAccumulator:
    """Streams class sums and counts of every layer's units over a dataset (float64)."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.sums: list[torch.Tensor] = []
        self.counts = torch.zeros(num_classes, dtype=torch.float64)

    def update(self, layer_units: Sequence[torch.Tensor], labels: torch.Tensor) -> None:
        """Add one batch: ``layer_units`` as recorded by :class:`~selrob.measures.units.UnitRecorder`."""
        if not self.sums:
            self.sums = [torch.zeros(self.num_classes, u.shape[1], dtype=torch.float64) for u in layer_units]
        if len(layer_units) != len(self.sums):
            raise ValueError("every batch must record the same layers")
        labels = labels.cpu()
        for total, units in zip(self.sums, layer_units):
            total += class_sums(units.detach().cpu().double(), labels, self.num_classes)[0]
        self.counts += torch.bincount(labels, minlength=self.num_classes).double()

    def class_means(self) -> list[torch.Tensor]:
        """(K, units) class means per layer (0 for classes never seen)."""
        return [total / self.counts.clamp(min=1).unsqueeze(1) for total in self.sums]
