"""Network stability (section 4.2, Figure 2c, A12c, A13c): the l2 (Frobenius) norm of the
input-output Jacobian d logits / d input, per sample, averaged per model."""

from __future__ import annotations

import torch
from torch import nn

from selrob.attacks.common import eval_mode


def input_output_jacobian_norm(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """``||d model(x)_i / d x_i||_F`` for every sample ``i`` of ``images`` (N, C, H, W) in [0, 1].

    Exact: one vector-Jacobian product per class. In eval mode samples do not interact, so the
    gradient of class k's logit summed over the batch holds every sample's row k of its Jacobian.
    """
    with eval_mode(model), torch.enable_grad():  # also when called under no_grad
        x = images.detach().clone().requires_grad_(True)
        logits = model(x)
        squared = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
        classes = logits.shape[1]
        for k in range(classes):
            (grad,) = torch.autograd.grad(logits[:, k].sum(), x, retain_graph=k < classes - 1)
            squared += grad.double().pow(2).flatten(1).sum(dim=1)
    return squared.sqrt()
