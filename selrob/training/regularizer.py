"""The class selectivity regularizer (paper section 3, Eq. 2-3).

    loss = CE(logits, labels) - alpha * mu_SI

with ``mu_SI`` the minibatch mean over layers of the mean over units of the selectivity index
(every post-ReLU layer, the logit layer excluded). Negative alpha lowers selectivity.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from selrob.measures.selectivity import mean_class_selectivity


def selectivity_regularized_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    layer_units: Sequence[torch.Tensor],
    alpha: float | Sequence[float],
    num_classes: int,
    eps: float = 1e-6,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eq. 2 on one minibatch, or on the minibatches of K models trained as one
    (:mod:`selrob.models.stacked`): logits (K, B, classes), labels (K, B), layers (K, B, units)
    and one alpha per model.

    Returns:
        ``(loss, cross_entropy, mu_si)``, one value per model; ``mu_si`` is NaN (not computed)
        when no layers are given, which is allowed only where alpha is 0: the regularizer is
        then skipped to save time.
    """
    cross_entropy = F.cross_entropy(logits.flatten(0, -2).float(), labels.flatten(), reduction="none")
    cross_entropy = cross_entropy.view(labels.shape).mean(dim=-1)
    alphas = [alpha] if isinstance(alpha, (int, float)) else list(alpha)
    if not layer_units:
        if any(a != 0.0 for a in alphas):
            raise ValueError("the selectivity regularizer needs the recorded layers when alpha != 0")
        return cross_entropy, cross_entropy, torch.full_like(cross_entropy, float("nan"))
    mu_si, _ = mean_class_selectivity(layer_units, labels, num_classes, eps)
    weights = torch.tensor(alphas, dtype=mu_si.dtype, device=mu_si.device).view(cross_entropy.shape)
    return cross_entropy - weights * mu_si, cross_entropy, mu_si
