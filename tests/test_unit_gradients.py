"""Input-unit gradients and their statistics (section 4.3, A.8): the batched passes against a
slow per-sample, per-unit loop, statistics against hand-computed values and SciPy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from selrob.measures.units import UnitRecorder
from selrob.measures.unit_gradients import input_unit_gradient_norms, unit_gradient_statistics


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Conv2d(4, 5, 3, stride=2, padding=1), nn.BatchNorm2d(5), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, 3),
    )
    with torch.no_grad():  # non-trivial running statistics, so eval mode differs from train mode
        model.train()
        model(torch.rand(64, 2, 6, 6))
    return model.train()


def slow_loop(model: nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """One sample and one unit at a time: the definition, with nothing shared."""
    model.eval()
    rows: list[list[list[float]]] = []
    for image in images:
        x = image[None].clone().requires_grad_(True)
        with UnitRecorder(model) as recorder:
            model(x)
        rows.append([[float(torch.autograd.grad(layer[0, u], x, retain_graph=True)[0].norm())
                      for u in range(layer.shape[1])] for layer in recorder.activations])
    return [torch.tensor([sample[layer] for sample in rows]) for layer in range(len(rows[0]))]


def relu_input_margin(model: nn.Module, images: torch.Tensor) -> float:
    """The smallest |input| of any ReLU in eval mode: how far the images sit from a kink."""
    inputs: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _, args, __: inputs.append(args[0].abs().min()))
             for m in model.modules() if isinstance(m, nn.ReLU)]
    model.eval()
    with torch.no_grad():
        model(images)
    for hook in hooks:
        hook.remove()
    return float(min(inputs))


@pytest.mark.parametrize(("mode", "units_per_pass"), [("reverse", 1), ("reverse", 3), ("forward", 1)])
def test_batched_gradients_equal_the_slow_loop(mode: str, units_per_pass: int) -> None:
    model = tiny_model()
    images = torch.rand(7, 2, 6, 6, generator=torch.Generator().manual_seed(1))
    # Batch sizes change the conv kernels (last bits, ~1e-7): every ReLU input must sit well off its kink.
    assert relu_input_margin(model, images) > 1e-5
    expected = slow_loop(model, images)
    model.train()
    got = input_unit_gradient_norms(model, images, mode, batch_size=3, units_per_pass=units_per_pass, pixels_per_pass=5)
    assert [g.shape for g in got] == [(7, 4), (7, 5)]
    for ours, theirs in zip(got, expected):
        torch.testing.assert_close(ours, theirs.float(), rtol=1e-5, atol=1e-6)
    assert model.training and all(p.requires_grad for p in model.parameters())  # restored


def test_auto_mode_uses_forward_mode_for_small_images() -> None:
    model = tiny_model()
    images = torch.rand(4, 2, 2, 2)  # 8 pixels < 9 units: forward mode
    reverse = input_unit_gradient_norms(model, images, "reverse")
    auto = input_unit_gradient_norms(model, images, "auto")
    for a, b in zip(auto, reverse):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="mode"):
        input_unit_gradient_norms(model, images, "sideways")  # type: ignore[arg-type]


def test_statistics_by_hand() -> None:
    norms = np.array([[1.0, 0.0, 2.0], [2.0, 0.0, 2.0], [3.0, 0.0, 2.0]])  # unit 1 is dead
    stats = unit_gradient_statistics(norms)
    assert stats["mu_u"] == [2.0, 0.0, 2.0]
    np.testing.assert_allclose(stats["sigma_u"], [np.sqrt(2 / 3), 0.0, 0.0])
    assert stats["cv_u"][0] == pytest.approx(np.sqrt(2 / 3) / 2) and np.isnan(stats["cv_u"][1]) and stats["cv_u"][2] == 0
    assert stats["mu_l"] == pytest.approx(4 / 3)
    assert stats["sigma_l"] == pytest.approx(np.sqrt(8 / 9))  # std of (2, 0, 2)
    assert stats["cv_l"] == pytest.approx(np.sqrt(8 / 9) / (4 / 3))
    assert stats["mean_cv_u"] == pytest.approx(np.sqrt(2 / 3) / 4)  # the dead unit is left out
    assert stats["dead_units"] == 1


def test_statistics_match_scipy_variation() -> None:
    from scipy.stats import variation

    norms = np.random.default_rng(0).gamma(2.0, size=(50, 6))
    stats = unit_gradient_statistics(norms)
    np.testing.assert_allclose(stats["cv_u"], variation(norms, axis=0))
    assert stats["cv_l"] == pytest.approx(variation(norms.mean(axis=0)))
