"""L-infinity projected gradient descent (Madry et al. 2018) with the accuracy after every step
(Figure 2b, A12b, A13b) and, for the gradient-masking check (A.5, Figure A14), the accuracy of
other models on the same adversarial examples after every step."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from selrob.attacks.common import attack_loss, autocast, check_budget, eval_mode


@dataclass
class PGDResult:
    """``adversarial``: the images after the last step. ``correct``: ``(steps + 1, batch)`` bool,
    the attacked model's correctness on the images after 0, 1, ..., ``steps`` steps.
    ``observed``: the same for each observer model."""

    adversarial: torch.Tensor
    correct: torch.Tensor
    observed: list[torch.Tensor]


def pgd_attack(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    epsilon: float,
    step_size: float,
    steps: int,
    random_start: bool = False,
    generator: torch.Generator | None = None,
    observers: Sequence[nn.Module] = (),
    amp: bool = False,
) -> PGDResult:
    """PGD on ``images`` in [0, 1]: ``x <- clip(clip(x + step_size * sign(grad), x0 +- epsilon), 0, 1)``.

    Every model is in eval mode during the attack. The forward pass that gives step k's gradient
    also gives step k's predictions, so the whole accuracy curve costs one forward pass more than
    the attack itself. ``random_start`` (off by default, as in the paper) starts from a uniform
    draw in the epsilon ball, taken from ``generator`` (a CPU generator, for the same draw on
    every device). The update is torchattacks' ``PGD`` step for step.
    """
    check_budget(epsilon, step_size, steps)
    images = images.detach()
    x = images.clone()
    if random_start:
        noise = torch.rand(images.shape, generator=generator, dtype=images.dtype).to(images.device)
        x = torch.clamp(x + (2 * noise - 1) * epsilon, min=0, max=1)
    correct = torch.empty((steps + 1, images.shape[0]), dtype=torch.bool, device=images.device)
    observed = [torch.empty_like(correct) for _ in observers]
    with eval_mode(model, *observers):
        for step in range(steps + 1):
            attacking = step < steps
            x.requires_grad_(attacking)
            with torch.set_grad_enabled(attacking):  # also when called under no_grad
                with autocast(x.device, amp):
                    logits = model(x)
                loss = attack_loss(logits, labels) if attacking else None
            correct[step] = logits.argmax(dim=1) == labels
            with torch.no_grad(), autocast(x.device, amp):
                for seen, observer in zip(observed, observers):
                    seen[step] = observer(x).argmax(dim=1) == labels
            if loss is None:
                break
            (grad,) = torch.autograd.grad(loss, x)
            x = x.detach() + step_size * grad.sign()
            delta = torch.clamp(x - images, min=-epsilon, max=epsilon)
            x = torch.clamp(images + delta, min=0, max=1).detach()
    return PGDResult(x.detach(), correct, observed)
