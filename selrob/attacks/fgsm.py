"""Fast gradient sign method (Goodfellow et al. 2015), over a grid of epsilons (Figure 2a, A12a)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from selrob.attacks.common import attack_loss, autocast, eval_mode


def _loss_gradient_sign(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, amp: bool) -> torch.Tensor:
    x = images.detach().clone().requires_grad_(True)
    with torch.enable_grad():  # also when called under no_grad
        with autocast(x.device, amp):
            logits = model(x)
        loss = attack_loss(logits, labels)
    (grad,) = torch.autograd.grad(loss, x)
    return grad.sign()


def fgsm_attack(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, epsilon: float, amp: bool = False
) -> torch.Tensor:
    """``clip(x + epsilon * sign(grad_x CE(model(x), y)), 0, 1)`` with ``model`` in eval mode."""
    with eval_mode(model):
        sign = _loss_gradient_sign(model, images, labels, amp)
    return torch.clamp(images + epsilon * sign, min=0, max=1).detach()


@torch.no_grad()
def _correct(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, amp: bool) -> torch.Tensor:
    with autocast(images.device, amp):
        return model(images).argmax(dim=1) == labels


def fgsm_correct(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, epsilons: Sequence[float], amp: bool = False
) -> torch.Tensor:
    """Correctness ``(len(epsilons), batch)`` under FGSM at every epsilon.

    The gradient sign does not depend on epsilon, so one backward pass serves the whole grid and
    each epsilon costs one forward pass.
    """
    with eval_mode(model):
        sign = _loss_gradient_sign(model, images, labels, amp)
        return torch.stack([
            _correct(model, torch.clamp(images + eps * sign, min=0, max=1), labels, amp) for eps in epsilons
        ])
