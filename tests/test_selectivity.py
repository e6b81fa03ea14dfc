"""Class selectivity index (Eq. 1), its minibatch form (Eq. 3) and the regularizer (Eq. 2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from selrob.measures.selectivity import (
    ClassMeanAccumulator,
    class_conditional_means,
    class_selectivity_index,
    mean_class_selectivity,
)
from selrob.training.regularizer import selectivity_regularized_loss


def reference_si(activations: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Independent loop implementation of Eq. 1 over the classes present, dead units 0."""
    present = [k for k in range(num_classes) if (labels == k).any()]
    out = np.zeros(activations.shape[1])
    for unit in range(activations.shape[1]):
        means = [activations[labels == k, unit].mean() for k in present]
        top = int(np.argmax(means))
        mu_max = means[top]
        rest = [m for i, m in enumerate(means) if i != top]
        mu_rest = float(np.mean(rest)) if rest else 0.0
        denominator = mu_max + mu_rest
        out[unit] = 0.0 if len(present) < 2 or denominator == 0 else (mu_max - mu_rest) / denominator
    return out


def test_unit_responding_to_one_class_has_selectivity_one() -> None:
    means = torch.tensor([[0.0], [3.5], [0.0], [0.0]])
    assert class_selectivity_index(means).item() == 1.0


def test_equal_class_means_have_selectivity_zero() -> None:
    means = torch.full((10, 3), 0.7)
    torch.testing.assert_close(class_selectivity_index(means), torch.zeros(3), rtol=0, atol=1e-6)


def test_hand_computed_case() -> None:
    # mu_max = 4, mu_-max = (2 + 1 + 1) / 3 = 4/3, SI = (8/3) / (16/3) = 0.5
    means = torch.tensor([[2.0], [4.0], [1.0], [1.0]])
    assert class_selectivity_index(means).item() == pytest.approx(0.5)


def test_dead_unit_is_zero_even_with_eps_zero() -> None:
    means = torch.zeros(5, 2)
    assert torch.equal(class_selectivity_index(means, eps=0.0), torch.zeros(2))


def test_eps_shrinks_the_index_slightly() -> None:
    means = torch.tensor([[1.0], [0.0]])
    assert class_selectivity_index(means, eps=1e-6).item() == pytest.approx(1.0 / (1.0 + 1e-6))


def test_absent_classes_are_ignored() -> None:
    # Class 2 absent: with all three, mu_-max would be (1 + 0) / 2; over the present two it is 1.
    means = torch.tensor([[3.0], [1.0], [0.0]])
    present = torch.tensor([True, True, False])
    assert class_selectivity_index(means, present).item() == pytest.approx((3 - 1) / (3 + 1))


def test_fewer_than_two_classes_present_gives_zero() -> None:
    means = torch.tensor([[3.0], [0.0]])
    assert class_selectivity_index(means, torch.tensor([True, False])).item() == 0.0


def test_matches_independent_loop_implementation() -> None:
    rng = np.random.default_rng(0)
    acts = np.maximum(rng.normal(size=(200, 16)), 0) * rng.uniform(0, 3, size=16)
    acts[:, 3] = 0.0  # a dead unit
    labels = rng.integers(0, 7, size=200)
    labels[labels == 5] = 4  # class 5 absent
    means, counts = class_conditional_means(torch.from_numpy(acts), torch.from_numpy(labels), 7)
    ours = class_selectivity_index(means, counts > 0).numpy()
    np.testing.assert_allclose(ours, reference_si(acts, labels, 7), rtol=1e-10, atol=1e-12)


def test_minibatch_form_matches_dataset_form() -> None:
    torch.manual_seed(0)
    layers = [torch.relu(torch.randn(300, c)) for c in (4, 8, 16)]
    labels = torch.randint(0, 10, (300,))
    _, per_layer = mean_class_selectivity([l.double() for l in layers], labels, 10)

    accumulator = ClassMeanAccumulator(10)
    for start in range(0, 300, 64):  # streamed in uneven batches
        accumulator.update([l[start : start + 64] for l in layers], labels[start : start + 64])
    present = accumulator.counts > 0
    streamed = torch.stack([class_selectivity_index(m, present).mean() for m in accumulator.class_means()])
    torch.testing.assert_close(per_layer, streamed, rtol=1e-6, atol=1e-7)


def test_mean_selectivity_is_mean_over_layers_of_mean_over_units() -> None:
    # Layer 0: one unit, SI 1. Layer 1: three units, SI 0. Eq. 3 gives 0.5 (not 0.25 over units).
    labels = torch.tensor([0, 1])
    layer0 = torch.tensor([[2.0], [0.0]])
    layer1 = torch.ones(2, 3)
    mu, per_layer = mean_class_selectivity([layer0, layer1], labels, 2)
    torch.testing.assert_close(per_layer, torch.tensor([1.0, 0.0]))
    assert mu.item() == pytest.approx(0.5)


def test_gradients_are_finite_with_dead_units_and_missing_classes() -> None:
    units = torch.relu(torch.randn(8, 5)).requires_grad_()
    with torch.no_grad():
        units[:, 0] = 0.0
    labels = torch.zeros(8, dtype=torch.long)  # a single class present: SI undefined -> 0
    mu, _ = mean_class_selectivity([units, units * 2], torch.cat([labels[:4], labels[4:] + 1]), 3, eps=1e-6)
    mu.backward()
    assert torch.isfinite(units.grad).all()


def test_regularized_loss_is_cross_entropy_minus_alpha_times_mean_selectivity() -> None:
    torch.manual_seed(1)
    logits = torch.randn(6, 3)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    units = [torch.relu(torch.randn(6, 4))]
    loss, ce, mu = selectivity_regularized_loss(logits, labels, units, alpha=-0.7, num_classes=3, eps=0.0)
    expected_mu, _ = mean_class_selectivity(units, labels, 3)
    assert ce.item() == pytest.approx(torch.nn.functional.cross_entropy(logits, labels).item())
    assert mu.item() == pytest.approx(expected_mu.item())
    assert loss.item() == pytest.approx(ce.item() + 0.7 * mu.item())


@pytest.mark.parametrize("alpha", [1.0, -1.0])
def test_gradient_step_moves_selectivity_in_the_direction_of_alpha(alpha: float) -> None:
    torch.manual_seed(2)
    x = torch.randn(64, 5)
    labels = torch.randint(0, 4, (64,))
    layer = torch.nn.Linear(5, 12)
    before, _ = mean_class_selectivity([torch.relu(layer(x))], labels, 4)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.5)
    for _ in range(20):
        units = [torch.relu(layer(x))]
        loss = -alpha * mean_class_selectivity(units, labels, 4, eps=1e-6)[0]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after, _ = mean_class_selectivity([torch.relu(layer(x))], labels, 4)
    assert (after - before).item() * alpha > 0.01


def test_the_unit_selectivity_evaluation_matches_eq1_and_the_runs_summary(smoke_runs, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Per unit: Eq. 1 of the stored class means (the reference loop's rule); per layer: the mean
    equals the layer selectivity the run's summary recorded after training (same test set)."""
    import shutil

    from selrob.evaluations.registry import EvaluationSettings
    from selrob.tables.evaluations import cached_result, evaluation_table, source_of
    from selrob.tables.runs import load_sweep

    shutil.copytree(smoke_runs, tmp_path / "runs", ignore=shutil.ignore_patterns("evaluations"))
    results = load_sweep("digits", alpha=1.0, seeds=0, smoke=True, runs_root=tmp_path / "runs")
    table = evaluation_table("unit-selectivity", results.runs, EvaluationSettings(smoke=True), progress=False)
    layers = results.layers.sort_values("layer")
    means = table.groupby("layer")["selectivity"].mean()
    assert len(means) == len(layers) == 19
    assert np.allclose(means.to_numpy(), layers["selectivity"].to_numpy(), atol=1e-6)
    stored = cached_result("unit-selectivity", source_of(results.runs.iloc[0]), EvaluationSettings(smoke=True),
                           evaluate=False)
    for layer in (0, 10):
        class_means = torch.tensor(stored[layer]["class_means"], dtype=torch.float64)
        assert torch.allclose(class_selectivity_index(class_means), torch.tensor(stored[layer]["selectivity"], dtype=torch.float64))
    assert any(np.ptp(layer["selectivity"]) > 0 for layer in stored)  # units differ: not a constant
