"""The second paper's robust (R) models: the embedded shape-texture world as a dataset, L2
adversarial training as a run setting with the budget scaled to the input, and a run trained on it."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from selrob.attacks.settings import IMAGENET_L2, L2_ATTACK_PRESETS, scaled_l2_attack
from selrob.config import resolve_config
from selrob.data import dataset_info, load_splits, load_test_set
from selrob.data import shape_texture
from selrob.errors import SelrobError
from selrob.store.runs import Run
from selrob.training import loop


def test_the_world_is_a_dataset_whose_statistics_are_its_pools() -> None:
    info = dataset_info("shapes")
    splits = load_splits("shapes", seed=0, val_per_class=5, max_train_samples=50)
    assert info.num_classes == 10 and info.in_channels == 3 and info.image_size == 32
    assert len(splits.train) == 50 and len(splits.val) == 50 and len(load_test_set("shapes")) == 1000
    pool, _ = shape_texture.load_pool_and_test()
    values = pool.images.double() / 255
    np.testing.assert_allclose(values.mean(dim=(0, 2, 3)).numpy(), info.mean, atol=1e-4)
    np.testing.assert_allclose(values.std(dim=(0, 2, 3)).numpy(), info.std, atol=1e-4)


def test_the_adversarial_budget_is_imagenets_at_the_same_rms_and_overshoot() -> None:
    assert scaled_l2_attack(3 * 224 * 224) == IMAGENET_L2 and dataclasses.astuple(IMAGENET_L2) == (3.0, 0.5, 7)  # the paper's
    epsilon, step, _ = dataclasses.astuple(scaled_l2_attack(3 * 32 * 32, 3))
    assert epsilon == pytest.approx(3 / 7, abs=1e-4) and step == pytest.approx(7 / 6 * (3 / 7) / 3, abs=1e-4)


def test_adversarial_training_is_a_run_setting_with_its_own_key() -> None:
    standard = resolve_config("shapes")
    robust = resolve_config("shapes", adversarial_steps=3)
    assert standard.arch == "alexnet_small" and robust.adversarial_epsilon == L2_ATTACK_PRESETS["shapes"].epsilon
    # Fewer steps than the test attack walk the same path length.
    assert robust.adversarial_step_size * 3 == pytest.approx(L2_ATTACK_PRESETS["shapes"].step_size * 7, abs=1e-3)
    assert resolve_config("digits", adversarial_steps=7).adversarial_epsilon == scaled_l2_attack(64).epsilon
    assert robust.protocol_key() != standard.protocol_key()
    assert resolve_config("digits").protocol_key() == resolve_config("digits", adversarial_steps=None).protocol_key()
    with pytest.raises(SelrobError, match="goes with neither AugMix nor PGD training"):
        resolve_config("shapes", adversarial_steps=3, pgd_steps=1)
    with pytest.raises(SelrobError, match="only apply with adversarial_steps"):
        resolve_config("shapes", adversarial_epsilon=0.5)


def test_the_adversarial_budget_grows_over_the_warm_up_epochs() -> None:
    warm = resolve_config("shapes", adversarial_steps=1)
    assert [loop.adversarial_budget_scale(warm, epoch) for epoch in range(5)] == pytest.approx([1 / 3, 2 / 3, 1, 1, 1])
    cold = resolve_config("shapes", adversarial_steps=1, adversarial_warmup=1)
    assert [loop.adversarial_budget_scale(cold, epoch) for epoch in range(2)] == [1.0, 1.0]
    with pytest.raises(SelrobError, match="adversarial_warmup must be at least 1"):
        resolve_config("shapes", adversarial_steps=1, adversarial_warmup=0)


@pytest.mark.slow
def test_a_robust_run_trains_on_l2_adversarial_examples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = resolve_config("shapes", smoke=True, adversarial_steps=2, epochs=1, milestones=[1])
    calls: list[tuple[float, float]] = []
    original = loop.pgd_l2_attack

    def recording(model, inputs, labels, epsilon, step_size, steps, **kwargs):  # type: ignore[no-untyped-def]
        adversarial = original(model, inputs, labels, epsilon, step_size, steps, **kwargs)
        calls.append((epsilon, float((adversarial - inputs).flatten(1).norm(dim=1).max())))
        return adversarial

    monkeypatch.setattr(loop, "pgd_l2_attack", recording)
    run = loop.train_run(config, tmp_path, progress=False)
    assert isinstance(run, Run) and run.is_finished() and run.config().adversarial_steps == 2
    assert run.summary()["best_epoch"] == 0  # shorter than its warm-up: its last (only) epoch
    # The first epoch of a 3-epoch warm-up attacks with a third of the budget.
    assert config.adversarial_warmup == 3
    assert calls and all(epsilon == pytest.approx(config.adversarial_epsilon / 3) and moved <= epsilon * (1 + 1e-5)
                         for epsilon, moved in calls)
    assert max(moved for _, moved in calls) > 0  # the examples did move
    assert math.isfinite(run.summary()["test_accuracy"])
    with torch.no_grad():
        assert run.load_model()(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    # Its cue-conflict decisions: every ordered pair of the world, 10 images each.
    from selrob.tables.evaluations import evaluation_table

    table = evaluation_table("cue-conflict", [run], progress=False)
    assert len(table) == 900 and set(table["cue"]) <= {"shape", "texture", "other"}
    assert (table["shape"] != table["texture"]).all() and table.groupby(["shape", "texture"]).size().eq(10).all()


def test_shape_bias_by_hand() -> None:
    from selrob.measures.shape_bias import cue_decisions, shape_bias

    predictions = np.array([0, 1, 2, 3, 1, 5])
    shapes = np.array([0, 0, 2, 4, 1, 6])
    textures = np.array([1, 1, 3, 3, 0, 7])
    decisions = cue_decisions(predictions, shapes, textures)
    assert decisions.tolist() == ["shape", "texture", "shape", "texture", "shape", "other"]
    assert shape_bias(decisions) == pytest.approx(3 / 5)
    assert math.isnan(shape_bias(np.array(["other"])))
    with pytest.raises(ValueError, match="different shape and texture"):
        cue_decisions(np.array([0]), np.array([1]), np.array([1]))
