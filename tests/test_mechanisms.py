"""Per-run dimensionality and unit-gradient evaluations: cached, consistent with the attack
caches, and strict about matching clean and corrupted images."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from selrob.attacks import attack_settings
from selrob.data.corrupted import CorruptedSet
from selrob.errors import SelrobError
from selrob.evaluations import EvaluationContext, EvaluationSettings, corruptions, dimensionality
from selrob.evaluations.corruptions import evaluate_corruptions
from selrob.evaluations.dimensionality import (
    evaluate_clean_dimensionality,
    evaluate_corruption_dimensionality,
    evaluate_pgd_dimensionality,
)
from selrob.evaluations.pgd import evaluate_pgd
from selrob.evaluations.unit_gradients import evaluate_unit_gradients
from selrob.measures.representations import DimensionalitySettings, layer_activations
from selrob.store.runs import Run
from selrob.tables.aggregates import mean_over_corruptions
from selrob.tables.runs import load_sweep
from support.studies import copy_run


def context(**parameters: object) -> EvaluationContext:
    """A digits context with these evaluation parameters (by group name)."""
    return EvaluationContext("digits", EvaluationSettings(parameters=parameters))


@pytest.fixture
def run(smoke_runs: Path, tmp_path: Path) -> Run:
    """One smoke run (alpha -1), copied without cached evaluations."""
    source = Run(Path(load_sweep("digits", alpha=-1.0, seeds=0, smoke=True, runs_root=smoke_runs).runs["run_dir"][0]))
    return copy_run(source, tmp_path / "runs")


def test_clean_dimensionality_is_cached_and_in_range(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = context(dimensionality=DimensionalitySettings((0.5, 0.95)))
    layers = evaluate_clean_dimensionality(run, settings)
    assert len(layers) == 19 and [layer["units"] for layer in layers[:2]] == [16, 16]
    assert all(0 <= p <= 1 for layer in layers for p in layer["pca"])
    assert all(layer["pca"][0] <= layer["pca"][1] for layer in layers)  # more variance needs more components
    monkeypatch.setattr(dimensionality, "measure_layers", lambda *a: pytest.fail("recomputed"))
    np.testing.assert_equal(evaluate_clean_dimensionality(run, settings), layers)  # NaN TwoNN of a dead layer equals itself


def test_pgd_dimensionality_fills_the_pgd_cache_with_the_same_curve(run: Run, tmp_path: Path) -> None:
    attack = context(attack=attack_settings("digits", smoke=True))
    evaluate_pgd_dimensionality(run, attack)
    from_dimensionality = evaluate_pgd(run, attack)  # read from the cache the pass filled
    fresh = copy_run(run, tmp_path / "fresh")
    assert evaluate_pgd(fresh, attack) == pytest.approx(from_dimensionality, abs=1e-6)


def test_corruption_dimensionality_fills_the_accuracy_cache_and_needs_the_clean_images_in_order(
        run: Run, digits_c: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = context()
    cells = evaluate_corruption_dimensionality(run, settings)
    assert set(cells) == set(CorruptedSet("digits").corruptions()) and all(set(c) == {1, 2, 3, 4, 5} for c in cells.values())
    fresh = copy_run(run, tmp_path / "fresh")
    expected = evaluate_corruptions(fresh, settings)
    monkeypatch.setattr(corruptions, "evaluate_accuracy", lambda *a: pytest.fail("recomputed"))
    assert evaluate_corruptions(run, settings) == expected
    monkeypatch.undo()
    shutil.rmtree(run.evaluations_dir)
    original = CorruptedSet.load

    def shuffled(self: CorruptedSet, name: str, severity: int):  # type: ignore[no-untyped-def]
        data = original(self, name, severity)
        return data.subset(torch.arange(len(data)).flip(0))

    monkeypatch.setattr(CorruptedSet, "load", shuffled)
    with pytest.raises(SelrobError, match="not the clean test set in its order"):
        evaluate_corruption_dimensionality(run, context())


def test_mean_over_corruptions_averages_cells_only() -> None:
    import pandas as pd

    keys = {"dataset": "digits", "arch": "resnet20", "protocol": "p", "alpha": 0.0, "seed": 0, "layer": 0,
            "units": 16, "measure": "pca", "threshold": 0.95}
    table = pd.DataFrame([
        {**keys, "perturbation": "clean", "corruption": None, "severity": None, "dimensionality": 0.25},
        {**keys, "perturbation": "corruptions", "corruption": "fog", "severity": 1, "dimensionality": 0.5},
        {**keys, "perturbation": "corruptions", "corruption": "snow", "severity": 2, "dimensionality": 0.75},
    ])
    means = mean_over_corruptions(table).set_index("perturbation")["dimensionality"]
    assert means.to_dict() == {"clean": 0.25, "corruptions": 0.625}


def test_layer_activations_are_the_recorded_units(run: Run) -> None:
    model = run.load_model()
    images = torch.rand(10, 1, 8, 8)
    whole, logits = layer_activations(model, [images])
    split, split_logits = layer_activations(model, [images[:4], images[4:]])
    assert len(whole) == 19 and all(torch.allclose(a, b, atol=1e-6) for a, b in zip(whole, split))
    with torch.no_grad():
        assert torch.allclose(logits, model(images), atol=1e-6) and torch.allclose(split_logits, logits, atol=1e-6)


def test_unit_gradients_are_cached_per_sample_count(run: Run) -> None:
    few = evaluate_unit_gradients(run, context(unit_gradient_samples=20))
    assert len(few) == 19 and sum(layer["units"] for layer in few) == 688
    assert all(np.isfinite(layer["mu_l"]) and layer["mu_l"] >= 0 for layer in few)
    assert len(list(run.evaluations_dir.glob("unit-gradients-*.json"))) == 1
    evaluate_unit_gradients(run, context(unit_gradient_samples=30))
    assert len(list(run.evaluations_dir.glob("unit-gradients-*.json"))) == 2
    with pytest.raises(SelrobError, match="at least 2 samples"):
        evaluate_unit_gradients(run, context(unit_gradient_samples=1))
