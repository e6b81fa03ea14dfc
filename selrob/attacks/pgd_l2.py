"""L2 projected gradient descent with the robustness library's semantics (Madry et al. 2018;
Engstrom et al.'s ``robustness``), the attack of the second paper's adversarial training and of
its Table 1: on [0, 1] images, per example

* step: ``x <- x + step_size * g / (||g||_2 + 1e-10)`` (normalised gradient ascent on the
  cross-entropy);
* projection: ``x0 + renorm(x - x0, max L2 norm epsilon)``, then clamped to [0, 1];
* no random start; with ``use_best`` (the library's default) each example's result is the iterate
  of highest loss among all of them, the start and the last one included.

torchattacks' ``PGDL2`` takes the same step and projection (it rescales by ``epsilon / norm``
where the library's ``renorm`` uses ``epsilon / (norm + 1e-7)``); it starts at a random point by
default and returns the last iterate.
"""

from __future__ import annotations

import torch
from torch import nn

from selrob.attacks.common import autocast, check_budget, eval_mode

#: The library's guard against a zero gradient.
GRADIENT_EPSILON = 1e-10


def _per_example_norm(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.flatten(1).norm(dim=1).view(-1, *([1] * (tensor.dim() - 1)))


def l2_step(x: torch.Tensor, gradient: torch.Tensor, step_size: float) -> torch.Tensor:
    """One normalised-gradient step of length ``step_size`` per example."""
    return x + step_size * gradient / (_per_example_norm(gradient) + GRADIENT_EPSILON)


def l2_project(x: torch.Tensor, origin: torch.Tensor, epsilon: float) -> torch.Tensor:
    """``x`` moved into the L2 ball of radius ``epsilon`` around ``origin`` (``Tensor.renorm``, as
    the library), then clamped to [0, 1]."""
    delta = (x - origin).renorm(p=2, dim=0, maxnorm=epsilon)
    return torch.clamp(origin + delta, 0, 1)


def pgd_l2_attack(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    epsilon: float,
    step_size: float,
    steps: int,
    use_best: bool = True,
    amp: bool = False,
) -> torch.Tensor:
    """Adversarial examples of ``images`` in [0, 1] for ``model`` (in eval mode during the attack)."""
    check_budget(epsilon, step_size, steps)
    origin = images.detach()
    x = origin.clone()
    best_x, best_loss = x.clone(), None
    with eval_mode(model):
        for step in range(steps + 1):
            attacking = step < steps
            x.requires_grad_(attacking)
            with torch.set_grad_enabled(attacking), autocast(x.device, amp):
                losses = nn.functional.cross_entropy(model(x).float(), labels, reduction="none")
            with torch.no_grad():
                if best_loss is None:
                    best_loss, best_x = losses.detach(), x.detach().clone()
                else:
                    better = losses > best_loss
                    best_loss = torch.where(better, losses, best_loss)
                    best_x[better] = x.detach()[better]
            if not attacking:
                break
            (gradient,) = torch.autograd.grad(losses.mean(), x)
            with torch.no_grad():
                x = l2_project(l2_step(x.detach(), gradient, step_size), origin, epsilon)
    return (best_x if use_best else x).detach()
