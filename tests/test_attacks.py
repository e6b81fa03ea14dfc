"""FGSM, PGD and the Jacobian norm: known answers on a linear model, invariants on a small CNN,
and identity with torchattacks (the peer library) on the same model and inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from selrob.measures.jacobian import input_output_jacobian_norm
from selrob.attacks import attack_settings, eval_mode, fgsm_attack, fgsm_correct, pgd_attack
from selrob.errors import SelrobError
from selrob.models import NormalizedModel, build_model

MEAN, STD = (0.4,), (0.25,)


def linear_model(seed: int = 0, classes: int = 4) -> NormalizedModel:
    torch.manual_seed(seed)
    return NormalizedModel(nn.Sequential(nn.Flatten(), nn.Linear(16, classes)), MEAN, STD).double()


def small_cnn(seed: int = 0) -> NormalizedModel:
    """A CNN with BatchNorm (so eval mode matters) and ReLUs, trained a few steps so that its
    predictions are not constant."""
    torch.manual_seed(seed)
    backbone = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.Conv2d(6, 8, 3, stride=2),
                             nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))
    model = NormalizedModel(backbone, MEAN, STD)
    images, labels = batch(seed, 64)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(30):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
    return model.eval()


def batch(seed: int = 1, n: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 1, 8, 8, generator=generator)
    # Three roughly balanced classes, learnable from the pixels: the mean of the top half.
    labels = torch.bucketize(images[:, 0, :4].mean(dim=(1, 2)), torch.tensor([0.48, 0.52]))
    return images, labels


# --- known answers on a linear model -----------------------------------------------------------


def test_fgsm_on_a_linear_model_matches_the_hand_computed_perturbation() -> None:
    model = linear_model()
    weight = model.backbone[1].weight.detach().numpy() / STD[0]  # d logits / d x
    bias = model.backbone[1].bias.detach().numpy() - weight.sum(axis=1) * MEAN[0]
    images = torch.rand(5, 1, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    labels = torch.tensor([0, 1, 2, 3, 0])
    x = images.flatten(1).numpy()
    logits = x @ weight.T + bias
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    # d mean-CE / dx_i = W^T (p_i - onehot_i) / N; only its sign matters.
    gradient = (probabilities - np.eye(4)[labels.numpy()]) @ weight
    # torch's gradient is float32-accurate: its signs match only away from zero.
    assert np.abs(gradient).min() > 1e-4
    expected = np.clip(x + 0.1 * np.sign(gradient), 0, 1)
    adversarial = fgsm_attack(model, images, labels, 0.1)
    np.testing.assert_allclose(adversarial.flatten(1).numpy(), expected, atol=1e-12)


def test_jacobian_norm_of_a_linear_model_is_the_frobenius_norm_of_its_weights_over_std() -> None:
    model = linear_model()
    images = torch.rand(6, 1, 4, 4, dtype=torch.float64)
    expected = np.linalg.norm(model.backbone[1].weight.detach().numpy() / STD[0])
    np.testing.assert_allclose(input_output_jacobian_norm(model, images).numpy(), expected, rtol=1e-12)


def test_jacobian_norm_of_a_cnn_matches_torch_autograd_jacobian_per_sample() -> None:
    model = small_cnn().double()
    images, _ = batch(2, 4)
    images = images.double()
    norms = input_output_jacobian_norm(model, images)
    for i in range(len(images)):
        jacobian = torch.autograd.functional.jacobian(lambda x: model(x[None])[0], images[i])
        assert norms[i].item() == pytest.approx(jacobian.norm().item(), rel=1e-10)


# --- invariants on a CNN -------------------------------------------------------------------------


def test_pgd_never_leaves_the_epsilon_ball_or_the_unit_interval() -> None:
    model = small_cnn()
    images, labels = batch()
    images[:3] = 0.0  # at the bounds, clipping to [0, 1] must win over the step
    images[3:6] = 1.0
    for random_start in (False, True):
        result = pgd_attack(model, images, labels, epsilon=0.03, step_size=0.02, steps=7, random_start=random_start,
                            generator=torch.Generator().manual_seed(0))
        assert (result.adversarial - images).abs().max() <= 0.03 + 1e-6  # float32 rounding, far below a step
        assert result.adversarial.min() >= 0 and result.adversarial.max() <= 1
    assert (result.adversarial != images).any()


def test_pgd_records_every_step_as_separate_attacks_would() -> None:
    model = small_cnn()
    images, labels = batch()
    full = pgd_attack(model, images, labels, epsilon=0.2, step_size=0.02, steps=8)
    with torch.no_grad():
        assert torch.equal(full.correct[0], model(images).argmax(1) == labels)  # step 0 is the clean images
        for steps in (1, 4, 8):
            shorter = pgd_attack(model, images, labels, epsilon=0.2, step_size=0.02, steps=steps)
            assert torch.equal(full.correct[steps], model(shorter.adversarial).argmax(1) == labels)
    assert full.correct.float().mean(1)[-1] < full.correct.float().mean(1)[0]  # the attack works


def test_pgd_observers_see_the_same_adversarial_images() -> None:
    model, other = small_cnn(0), small_cnn(5)
    images, labels = batch()
    result = pgd_attack(model, images, labels, epsilon=0.1, step_size=0.02, steps=4, observers=[model, other])
    assert torch.equal(result.observed[0], result.correct)
    with torch.no_grad():
        assert torch.equal(result.observed[1][-1], other(result.adversarial).argmax(1) == labels)


def test_pgd_random_start_is_reproducible_by_seed_and_changes_the_start() -> None:
    model = small_cnn()
    images, labels = batch()

    def run(seed: int) -> torch.Tensor:
        return pgd_attack(model, images, labels, 0.1, 0.01, 3, random_start=True,
                          generator=torch.Generator().manual_seed(seed)).adversarial

    assert torch.equal(run(0), run(0))
    assert not torch.equal(run(0), run(1))
    assert not torch.equal(run(0), pgd_attack(model, images, labels, 0.1, 0.01, 3).adversarial)


def test_attacks_use_eval_mode_and_restore_the_mode() -> None:
    model = small_cnn().train()
    images, labels = batch()
    running_mean = model.backbone[1].running_mean.clone()
    pgd_attack(model, images, labels, 0.1, 0.01, 2)
    fgsm_correct(model, images, labels, [0.0, 0.1])
    assert model.training and torch.equal(model.backbone[1].running_mean, running_mean)
    with eval_mode(model):
        assert not model.training
    assert model.training


def test_fgsm_grid_is_one_attack_per_epsilon_and_epsilon_zero_is_clean_accuracy() -> None:
    model = small_cnn()
    images, labels = batch()
    grid = fgsm_correct(model, images, labels, [0.0, 0.05, 0.3])
    with torch.no_grad():
        assert torch.equal(grid[0], model(images).argmax(1) == labels)
        for row, eps in zip(grid[1:], (0.05, 0.3)):
            assert torch.equal(row, model(fgsm_attack(model, images, labels, eps)).argmax(1) == labels)


def test_attack_settings_presets_overrides_and_errors() -> None:
    cifar = attack_settings("cifar10")
    assert cifar.pgd_epsilon == 16 / 255 and cifar.pgd_step_size == 1e-4 and cifar.pgd_steps == 40
    assert cifar.fgsm_epsilons[0] == 0 and cifar.fgsm_epsilons[-1] == 0.02 and not cifar.random_start
    changed = attack_settings("digits", pgd_steps=10, random_start=True)
    assert changed.pgd_steps == 10 and changed.random_start and changed.pgd_step_size == attack_settings("digits").pgd_step_size
    smoke = attack_settings("digits", smoke=True)
    assert smoke.pgd_steps == 5 and len(smoke.fgsm_epsilons) == 3
    assert cifar.pgd_params() != changed.pgd_params()
    with pytest.raises(SelrobError, match="step size"):
        attack_settings("cifar10", pgd_step_size=0)
    with pytest.raises(SelrobError, match="unknown dataset"):
        attack_settings("mnist")


# --- the peer library --------------------------------------------------------------------------


def test_fgsm_and_pgd_equal_torchattacks_on_the_same_model_and_inputs() -> None:
    torchattacks = pytest.importorskip("torchattacks", reason="install with: pip install --no-deps torchattacks==3.5.1")
    torch.manual_seed(0)
    model = build_model("resnet20", num_classes=10, in_channels=3, mean=(0.49, 0.48, 0.45), std=(0.25, 0.24, 0.26)).eval()
    images = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    labels = torch.randint(0, 10, (16,), generator=torch.Generator().manual_seed(2))
    # Exact on purpose: torchattacks 3.5.1 runs the very torch ops ours does (forward, mean cross-entropy,
    # autograd.grad, sign, step, clamp) on the same model and tensors in this process, so both sides share
    # every kernel whatever the machine or thread count (measured gap 0). A tolerance could not absorb a
    # different summation order anyway: under other kernels (.ci/cpu-profile.env, same weights) the input
    # gradient moves by 8e-5 of its largest entry, and PGD's sign steps then diverge in 5 pixels after 5
    # steps and 572 of 49,152 (by up to 0.01) after 12.
    for eps in (0.004, 0.03):
        assert torch.equal(fgsm_attack(model, images, labels, eps), torchattacks.FGSM(model, eps=eps)(images, labels))
    for steps in (1, 5, 12):
        peer = torchattacks.PGD(model, eps=16 / 255, alpha=1e-3, steps=steps, random_start=False)(images, labels)
        ours = pgd_attack(model, images, labels, 16 / 255, 1e-3, steps).adversarial
        torch.testing.assert_close(ours, peer, rtol=0, atol=1e-6)  # gap 0; one flipped sign step moves a pixel 2e-3
