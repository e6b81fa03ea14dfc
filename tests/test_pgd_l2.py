"""L2 PGD with the robustness library's semantics: inside the ball and [0, 1], a hand-computed step
on a linear model, the best iterate, and torchattacks' PGDL2 where the two coincide."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from selrob.attacks import pgd_l2_attack
from selrob.attacks.pgd_l2 import l2_project, l2_step
from test_attacks import MEAN, STD, batch, linear_model, small_cnn


@pytest.mark.parametrize("epsilon", [0.05, 0.5, 3.0])
def test_examples_stay_in_the_l2_ball_and_in_the_unit_cube(epsilon: float) -> None:
    model = small_cnn()
    images, labels = batch()
    images[:3] = 0.0  # at the bounds, the clamp must hold
    images[3:6] = 1.0
    for use_best in (True, False):
        adversarial = pgd_l2_attack(model, images, labels, epsilon, step_size=epsilon / 2, steps=6, use_best=use_best)
        norms = (adversarial - images).flatten(1).norm(dim=1)
        assert (norms <= epsilon * (1 + 1e-5)).all()
        assert adversarial.min() >= 0 and adversarial.max() <= 1
    assert (pgd_l2_attack(model, images, labels, 0.5, 0.25, 6) != images).any()


def test_one_step_on_a_linear_model_is_the_hand_computed_step() -> None:
    model = linear_model()
    weight = model.backbone[1].weight.detach().numpy() / STD[0]  # d logits / d x
    bias = model.backbone[1].bias.detach().numpy() - weight.sum(axis=1) * MEAN[0]
    images = torch.rand(5, 1, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 0.5 + 0.25
    labels = torch.tensor([0, 1, 2, 3, 0])
    x = images.flatten(1).numpy()
    logits = x @ weight.T + bias
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    gradient = (p - np.eye(4)[labels.numpy()]) @ weight / len(x)  # d mean-CE / d x
    step = 0.1 * gradient / (np.linalg.norm(gradient, axis=1, keepdims=True) + 1e-10)
    expected = np.clip(x + step, 0, 1)  # the step is shorter than epsilon: no projection
    got = pgd_l2_attack(model, images, labels, epsilon=1.0, step_size=0.1, steps=1, use_best=False)
    # The loss is taken in float32 (as every attack here): the step direction is float32-accurate.
    np.testing.assert_allclose(got.flatten(1).numpy(), expected, atol=1e-6)


def test_projection_and_step_by_hand() -> None:
    origin = torch.zeros(2, 1, 1, 2, dtype=torch.float64) + 0.5
    x = origin + torch.tensor([[3.0, 4.0], [0.03, 0.04]], dtype=torch.float64).view(2, 1, 1, 2) * 0.1
    projected = l2_project(x, origin, epsilon=0.1)  # norms 0.5 and 0.005: the first is scaled to 0.1
    assert torch.allclose((projected - origin).flatten(1).norm(dim=1), torch.tensor([0.1, 0.005], dtype=torch.float64),
                          atol=1e-6)
    stepped = l2_step(origin, torch.tensor([[3.0, 4.0], [0.0, 0.0]], dtype=torch.float64).view(2, 1, 1, 2), 0.5)
    assert torch.allclose(stepped.flatten(1), torch.tensor([[0.8, 0.9], [0.5, 0.5]], dtype=torch.float64))


def test_the_best_iterate_has_the_highest_loss_of_all() -> None:
    model = small_cnn()
    images, labels = batch()
    best = pgd_l2_attack(model, images, labels, 1.0, 0.5, 5, use_best=True)
    last = pgd_l2_attack(model, images, labels, 1.0, 0.5, 5, use_best=False)

    def losses(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.nn.functional.cross_entropy(model.eval()(x), labels, reduction="none")

    assert (losses(best) >= losses(last) - 1e-6).all() and (losses(best) >= losses(images) - 1e-6).all()


def test_equals_torchattacks_pgdl2_without_random_start_and_best_iterate() -> None:
    torchattacks = pytest.importorskip("torchattacks", reason="install with: pip install --no-deps torchattacks==3.5.1")
    model = small_cnn()
    images, labels = batch()
    for epsilon, steps in ((0.3, 4), (2.0, 7)):
        ours = pgd_l2_attack(model, images, labels, epsilon, step_size=epsilon / 3, steps=steps, use_best=False)
        theirs = torchattacks.PGDL2(model, eps=epsilon, alpha=epsilon / 3, steps=steps, random_start=False)(images, labels)
        # renorm divides by (norm + 1e-7) where torchattacks divides by norm: a difference far below a step
        # (measured gap 1.2e-7, 1.8e-7 under .ci/cpu-profile.env's kernels; tolerance 1e-5, 50x; a step is 0.1 or more).
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
