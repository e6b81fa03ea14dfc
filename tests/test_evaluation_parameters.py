"""Each evaluation owns its parameters (selrob.evaluations.registry.ParameterGroup): settings hold
only what every evaluation shares plus the values of the groups given, bad values are refused when
settings are made, `selrob evaluate` offers each group's flags beside the evaluations that read
them and refuses a flag the evaluation does not read; the headline rules are written once."""

from __future__ import annotations

import pickle

import pandas as pd
import pytest

from selrob.attacks import attack_settings
from selrob.cli import main
from selrob.errors import SelrobError
from selrob.evaluations import EvaluationContext, EvaluationSettings, get_evaluation, registered_parameters
from selrob.evaluations.corruptions import CorruptedSetChoice
from selrob.evaluations.fgsm import largest_epsilon
from selrob.evaluations.pgd import attack_of, last_step
from selrob.measures.representations import DimensionalitySettings


def test_shared_settings_keep_only_what_every_evaluation_shares() -> None:
    assert set(EvaluationSettings.__dataclass_fields__) == {"smoke", "data_root", "device", "amp", "progress",
                                                            "parameters"}
    readers = {group.name for evaluation in (get_evaluation(n) for n in ("fgsm", "pgd", "gradient-masking",
                                                                           "dimensionality-pgd"))
               for group in evaluation.parameters}
    assert "attack" in readers and get_evaluation("jacobian").parameters == ()
    # Every group is read by some evaluation: a parameter nobody reads would be a flag that does nothing.
    from selrob.evaluations import registered_evaluations

    read = {group.name for evaluation in registered_evaluations().values() for group in evaluation.parameters}
    assert read == set(registered_parameters())


def test_a_group_not_given_takes_the_datasets_preset_and_a_given_one_wins() -> None:
    preset = attack_of(EvaluationContext("digits", EvaluationSettings(smoke=True)))
    assert preset == attack_settings("digits", smoke=True)
    chosen = attack_settings("digits", pgd_steps=3, smoke=True)
    assert attack_of(EvaluationContext("digits", EvaluationSettings(parameters={"attack": chosen}))) == chosen


def test_settings_compare_by_value_whatever_order_the_parameters_come_in() -> None:
    one = EvaluationSettings(parameters={"unit_gradient_samples": 5, "corrupted_set": CorruptedSetChoice("generated", ["fog"])})
    two = EvaluationSettings(parameters={"corrupted_set": CorruptedSetChoice("generated", ("fog",)), "unit_gradient_samples": 5})
    assert one == two and hash(one) == hash(two)
    # A command names only the flags of what the evaluation reads (another's would be refused).
    assert one.command_flags(get_evaluation("unit-gradients")) == " --samples 5"
    assert one.command_flags(get_evaluation("corruptions")) == " --source generated --corruptions fog"
    assert one.command_flags(get_evaluation("fgsm")) == ""


def test_settings_with_parameters_reach_worker_processes_intact() -> None:
    settings = EvaluationSettings(smoke=True, parameters={
        "attack": attack_settings("digits", pgd_steps=3, smoke=True), "corrupted_set": CorruptedSetChoice(None, ["fog"]),
        "dimensionality": DimensionalitySettings((0.9,), 0.8), "cue_conflict_preprocessing": "as-is"})
    copy = pickle.loads(pickle.dumps(settings))
    assert copy == settings and hash(copy) == hash(settings)
    assert attack_of(EvaluationContext("digits", copy)).pgd_steps == 3


@pytest.mark.parametrize(("parameters", "message"), [
    ({"unit_gradient_samples": 1}, "at least 2 samples, got 1"),
    ({"cue_conflict_preprocessing": "crop"}, "unknown cue-conflict preprocessing 'crop'"),
    ({"atack": None}, "unknown evaluation parameters atack; choose from: attack"),
    ({"attack": "pgd"}, "the attack parameter must be AttackSettings, got 'pgd'"),
    ({"corrupted_set": "official"}, "the corrupted_set parameter must be CorruptedSetChoice"),
])
def test_bad_parameters_are_refused_when_settings_are_made(parameters: dict[str, object], message: str) -> None:
    with pytest.raises(SelrobError, match=message):
        EvaluationSettings(parameters=parameters)


@pytest.mark.parametrize(("flags", "group"), [(["--samples", "5"], "unit gradient samples"),
                                              (["--cue-conflict-preprocessing", "resize-crop"],  # the default, given
                                               "cue conflict preprocessing")])
def test_evaluate_refuses_a_flag_the_evaluation_does_not_read(capsys: pytest.CaptureFixture[str],
                                                              flags: list[str], group: str) -> None:
    assert main(["evaluate", "fgsm", *flags]) == 2
    error = capsys.readouterr().err
    assert error == f"selrob: error: fgsm does not read the {group} flags; see selrob evaluate --help for which " \
                    "evaluations read them\n"


def test_a_corrupted_set_of_an_unknown_source_is_refused() -> None:
    with pytest.raises(SelrobError, match="unknown corrupted-set source 'offical'; choose one of: generated, official"):
        CorruptedSetChoice("offical")


def test_evaluate_help_groups_each_flag_with_the_evaluations_that_read_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = capsys.readouterr().out
    assert "unit gradient samples (read by unit-gradients)" in text
    assert "cue conflict preprocessing (read by cue-conflict, channel-ablation)" in text
    assert text.index("  --samples SAMPLES ") > text.index("unit gradient samples (read by")  # its help under it


def test_the_headline_rules_keep_the_strongest_attack() -> None:
    fgsm = pd.DataFrame({"epsilon": [0.0, 0.01, 0.02, 0.0, 0.02], "accuracy": [1.0, 0.8, 0.5, 0.9, 0.4]})
    assert largest_epsilon(fgsm)["accuracy"].tolist() == [0.5, 0.4]
    pgd = pd.DataFrame({"step": [0, 1, 2, 0, 1, 2], "accuracy": [1.0, 0.5, 0.2, 0.9, 0.6, 0.3]})
    assert last_step(pgd)["accuracy"].tolist() == [0.2, 0.3]
    assert get_evaluation("fgsm").headline is largest_epsilon and get_evaluation("pgd").headline is last_step
    assert get_evaluation("gradient-masking").headline is last_step
