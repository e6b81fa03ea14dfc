"""Worst-case evaluations of trained runs: cached results, the results tables, the gradient-masking
pairing, PGD training and Figure A16's dead-unit accounting."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from selrob.attacks import AttackSettings, attack_settings
from selrob.config import resolve_config
from selrob.errors import SelrobError
from selrob.evaluations import EvaluationSettings, jacobian, pgd
from selrob.evaluations.gradient_masking import DIFFERENT, SAME, masking_pairings
from selrob.tables.aggregates import selectivity_with_dead_units
from selrob.tables.evaluations import evaluation_table
from selrob.tables.runs import load_pgd_training, load_sweep
from selrob.store.runs import Run
from selrob.training.loop import pgd_training_examples

SETTINGS = attack_settings("digits", smoke=True)
#: A smoke run's test accuracy from training (its own pass: the process, thread count and batch that
#: trained it) and an evaluation's step 0 are two computations of the same 200 decisions: a near tie
#: may flip one, one image (the smallest top-two logit gap measured over these runs is 6e-4; other
#: kernels move the logits 1e-5). One attack step too many moves 1 to 6 images per run, 17 over six.
ONE_IMAGE = 1 / resolve_config("digits", smoke=True).max_eval_samples + 1e-9


def table(name: str, runs: pd.DataFrame, attack: AttackSettings = SETTINGS, **options: object) -> pd.DataFrame:
    return evaluation_table(name, runs, EvaluationSettings(parameters={"attack": attack}), progress=False, **options)


@pytest.fixture(scope="module")
def sweep(smoke_runs: Path) -> pd.DataFrame:
    return load_sweep("digits", smoke=True, runs_root=smoke_runs).runs


def test_step_zero_and_epsilon_zero_are_the_clean_test_accuracy(sweep: pd.DataFrame) -> None:
    fgsm = table("fgsm", sweep)
    curves = table("pgd", sweep)
    assert len(fgsm) == len(sweep) * 3 and len(curves) == len(sweep) * (SETTINGS.pgd_steps + 1)
    clean = sweep.set_index(["alpha", "seed"])["test_accuracy"]
    for frame, column, zero in ((fgsm, "epsilon", 0.0), (curves, "step", 0)):
        first = frame[frame[column] == zero].set_index(["alpha", "seed"])["accuracy"]
        pd.testing.assert_series_equal(first.sort_index(), clean.sort_index(), check_names=False, check_exact=False,
                                       rtol=0, atol=ONE_IMAGE)
    final = curves[curves["step"] == SETTINGS.pgd_steps]["accuracy"].to_numpy()
    assert (final <= curves[curves["step"] == 0]["accuracy"].to_numpy()).all()


def test_evaluations_are_cached_in_the_run_folder_and_reused(sweep: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    first = table("jacobian", sweep)
    table("pgd", sweep)
    assert (first["jacobian_norm"] > 0).all()
    run = Run(Path(sweep["run_dir"].iloc[0]))
    assert {"jacobian", "pgd"} <= {p.name.rsplit("-", 1)[0] for p in run.evaluations_dir.glob("*.json")}

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("recomputed a cached result")

    monkeypatch.setattr(jacobian, "input_output_jacobian_norm", fail)
    monkeypatch.setattr(pgd, "pgd_attack", fail)
    pd.testing.assert_frame_equal(table("jacobian", sweep), first)
    table("pgd", sweep)
    with pytest.raises(AssertionError, match="recomputed"):  # other settings are another cache entry
        table("pgd", sweep, attack_settings("digits", pgd_steps=2))


def test_gradient_masking_pairs_each_target_with_the_alpha_zero_run_of_its_seed(sweep: pd.DataFrame) -> None:
    runs = [Run(Path(p)) for p in sweep["run_dir"]]
    sources = [run for run in runs if run.config().alpha == 0]
    pairings = masking_pairings(runs, sources)
    assert len(pairings) == len(runs) + len(sources)  # alpha 0 targets also see the other seed's examples
    for pairing in pairings:
        target, source = pairing.target.config(), pairing.source.config()
        assert source.alpha == 0
        if pairing.relation == SAME:
            assert pairing.source == pairing.target
        else:
            assert pairing.relation == DIFFERENT and pairing.source != pairing.target
            assert source.seed == target.seed or target.alpha == 0
    with pytest.raises(SelrobError, match="no alpha = 0 run of seed"):
        masking_pairings(runs, sources[:1])


def test_gradient_masking_same_replicate_is_the_runs_own_pgd_curve(sweep: pd.DataFrame) -> None:
    sources = sweep[sweep["alpha"] == 0]
    masking = table("gradient-masking", sweep, sources=sources)
    curves = table("pgd", sweep)
    assert set(masking["relation"]) == {SAME, DIFFERENT}
    same = masking[masking["relation"] == SAME].drop(columns=["source_seed", "relation"]).reset_index(drop=True)
    own = curves[curves["alpha"] == 0].reset_index(drop=True)
    pd.testing.assert_frame_equal(same, own[same.columns])
    clean = masking[masking["step"] == 0].merge(sweep, on=["alpha", "seed"])
    # step 0: every target on clean images
    assert (clean["accuracy"] - clean["test_accuracy"]).abs().max() <= ONE_IMAGE


def test_pgd_training_config_takes_the_test_attack_and_keeps_old_keys() -> None:
    plain = resolve_config("digits")
    trained = resolve_config("digits", pgd_steps=3)
    preset = attack_settings("digits")
    assert (trained.pgd_epsilon, trained.pgd_step_size) == (preset.pgd_epsilon, preset.pgd_step_size)
    assert trained.protocol_key() != plain.protocol_key()
    assert plain.protocol_key() == resolve_config("digits", pgd_steps=None).protocol_key()
    with pytest.raises(SelrobError, match="at least 1"):
        resolve_config("digits", pgd_steps=0)
    with pytest.raises(SelrobError, match="AugMix or PGD"):
        resolve_config("digits", pgd_steps=2, augmix=True)
    with pytest.raises(SelrobError, match="only apply with pgd_steps"):
        resolve_config("digits", pgd_epsilon=0.1)


def test_pgd_training_examples_are_the_test_attack_within_the_budget() -> None:
    from selrob.models import build_model

    config = resolve_config("digits", pgd_steps=3)
    model = build_model("resnet20", num_classes=10, in_channels=1, mean=(0.3,), std=(0.4,)).train()
    inputs, labels = torch.rand(8, 1, 8, 8), torch.randint(0, 10, (8,))
    adversarial = pgd_training_examples(model, inputs, labels, config)
    assert model.training
    steps_budget = config.pgd_steps * config.pgd_step_size
    assert 0 < (adversarial - inputs).abs().max() <= steps_budget + 1e-6  # float32 rounding, far below a step


def test_pgd_training_sweep_table_and_dead_units(smoke_runs: Path) -> None:
    results = load_pgd_training("digits", smoke=True, runs_root=smoke_runs)
    assert sorted(results.runs["pgd_steps"].unique()) == [0, 1]
    assert results.runs.groupby("pgd_steps")["protocol"].nunique().eq(1).all()
    assert results.runs["protocol"].nunique() == 2 and (results.runs["alpha"] == 0).all()
    per_run = selectivity_with_dead_units(results.layers)
    assert len(per_run) == len(results.runs)
    assert (per_run["mean_selectivity_alive"] >= per_run["mean_selectivity"] - 1e-12).all()
    with pytest.raises(SelrobError, match="--pgd-steps 7"):
        load_pgd_training("digits", steps=7, smoke=True, runs_root=smoke_runs)


def test_selectivity_without_dead_units_by_hand() -> None:
    row = {"dataset": "d", "arch": "a", "protocol": "p", "alpha": 0.0, "seed": 0, "pgd_steps": 2}
    layers = pd.DataFrame([
        {**row, "layer": 0, "units": 4, "dead_units": 1, "selectivity": 0.3},   # live units' mean 0.4
        {**row, "layer": 1, "units": 2, "dead_units": 0, "selectivity": 0.6},
        {**row, "layer": 2, "units": 2, "dead_units": 2, "selectivity": 0.0},   # no live unit: left out
    ])
    result = selectivity_with_dead_units(layers).iloc[0]
    assert result["mean_selectivity"] == pytest.approx(0.3)
    assert result["mean_selectivity_alive"] == pytest.approx(0.5)
    assert result["dead_fraction"] == pytest.approx(3 / 8)


@pytest.mark.parametrize("dataset", ["digits", "cifar10"])
def test_figure_2a_tick_labels_never_overlap(dataset: str) -> None:
    import matplotlib.pyplot as plt

    from selrob.plotting.selectivity import plot_alpha_curves

    epsilons = attack_settings(dataset).fgsm_epsilons  # CIFAR-10's are 0.0025 apart
    rows = [dict(alpha=a, seed=s, epsilon=e, accuracy=0.9 - e) for a in (-1.0, 0.0, 1.0) for s in (0, 1) for e in epsilons]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))  # notebook 03's figure
    try:
        ax = plot_alpha_curves(pd.DataFrame(rows), "epsilon", "accuracy", axes[0])
        fig.canvas.draw()
        low, high = ax.get_xlim()
        boxes = [label.get_window_extent() for label, tick in zip(ax.get_xticklabels(), ax.get_xticks())
                 if low <= tick <= high]
        assert len(boxes) >= 3
        assert not any(left.overlaps(right) for left, right in zip(boxes, boxes[1:]))
    finally:
        plt.close(fig)


def test_the_pgd_training_sweep_refuses_a_pgd_steps_override(tmp_path: Path) -> None:
    # Its step 0 is standard training: a pgd_steps override would load PGD-trained runs as step 0.
    with pytest.raises(SelrobError, match="the PGD-training sweep sets pgd_steps itself"):
        load_pgd_training("digits", smoke=True, runs_root=tmp_path, pgd_steps=2)
