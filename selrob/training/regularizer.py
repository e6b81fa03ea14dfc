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
    alpha: float,
    num_classes: int,
    eps: float = 1e-6,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eq. 2 on one minibatch.

    Returns:
        ``(loss, cross_entropy, mu_si)``; ``mu_si`` is NaN (not computed) when ``alpha == 0`` and
        no layers are given: the regularizer is then skipped to save time.
    """
    cross_entropy = F.cross_entropy(logits.float(), labels)
    if alpha == 0.0 and not layer_units:
        return cross_entropy, cross_entropy, cross_entropy.new_full((), float("nan"))
    mu_si, _ = mean_class_selectivity(layer_units, labels, num_classes, eps)
    return cross_entropy - alpha * mu_si, cross_entropy, mu_si
