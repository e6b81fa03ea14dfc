"""The first paper's study: class selectivity, dimensionality and average- vs worst-case
robustness (Leavitt & Morcos, ICLR 2021), on the embedded digits sweep by default.

Models: the preset's alpha x seed grid, AugMix runs at alpha 0 over the same seeds (notebook 06)
and the PGD-training sweep (notebook 07). Plan: the grid gets every per-run evaluation and the
gradient-masking check; the AugMix runs get the corruptions. Notebooks 01-08.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from selrob import paths
from selrob.config import GRIDS, TrainConfig, pgd_training_configs, sweep_configs
from selrob.evaluations.gradient_masking import masking_pairings
from selrob.evaluations.registry import EvaluationSettings
from selrob.pipeline.stage import EvaluationPlan
from selrob.store.runs import Run
from selrob.tables.claims import Claim
from selrob.pipeline.reproduce import ReproduceOptions, Study, StudyNotebook, notebook_parameters_of
from selrob.studies.selectivity_figures import FIGURES

DATASET = "digits"
#: Every notebook declares these; notebook 07 (PGD training, defined at alpha 0) has no alpha.
NOTEBOOK_PARAMETERS = frozenset({"dataset", "arch", "alpha", "seeds", "smoke", "training", "runs_dir", "figures_dir"})
NOTEBOOKS = tuple(
    StudyNotebook(stem, title, NOTEBOOK_PARAMETERS - ({"alpha"} if stem == "07_pgd_training_selectivity" else set()))
    for stem, title in (("01_selectivity_accuracy", "class selectivity and test accuracy"),
                        ("02_average_case_robustness", "accuracy under common corruptions"),
                        ("03_worst_case_robustness", "FGSM, PGD, the Jacobian norm and gradient masking"),
                        ("04_dimensionality", "dimensionality of representations and of perturbations"),
                        ("05_unit_gradient_variability", "variability of input-unit gradients"),
                        ("06_augmix_selectivity", "AugMix and class selectivity"),
                        ("07_pgd_training_selectivity", "PGD training and class selectivity"),
                        ("08_natural_adversarial", "ImageNet-A (natural adversarial examples)"))
)
#: What every run of the alpha grid gets (the AugMix runs get the corruptions only).
GRID_EVALUATIONS = ("dimensionality-pgd", "dimensionality-clean", "dimensionality-corruptions", "unit-gradients",
                    "unit-selectivity", "corruptions", "fgsm", "pgd", "jacobian")


def reproduce_configs(dataset: str = DATASET, smoke: bool = False) -> list[TrainConfig]:
    """What the notebooks read: the preset's alpha x seed grid, AugMix runs at alpha 0 over the
    same seeds and the PGD-training sweep."""
    return (sweep_configs(dataset, smoke=smoke) + sweep_configs(dataset, alphas=0.0, smoke=smoke, augmix=True)
            + pgd_training_configs(dataset, smoke=smoke))


def prepare(options: ReproduceOptions) -> None:
    """Train the study's runs and generate digits-C."""
    from selrob.corruptions.generate import make_corrupted_set
    from selrob.pipeline.sweep import run_sweep

    run_sweep(reproduce_configs(DATASET, options.smoke), workers=options.workers, runs_root=options.runs_dir,
              data_root=options.data_dir, device=options.device)
    make_corrupted_set(DATASET, options.data_dir, workers=options.workers)


def reproduce_plan(dataset: str = DATASET, smoke: bool = False, runs_root: str | Path | None = None,
                   data_root: str | Path | None = None, device: str | None = None) -> EvaluationPlan:
    """What the notebooks of ``selrob reproduce`` read."""
    grid = [Run.for_config(c, runs_root) for c in sweep_configs(dataset, smoke=smoke)]
    augmix = [Run.for_config(c, runs_root) for c in sweep_configs(dataset, alphas=0.0, smoke=smoke, augmix=True)]
    evaluations: dict[str, list[Run]] = {name: list(grid) for name in GRID_EVALUATIONS}
    evaluations["corruptions"] += augmix
    settings = EvaluationSettings(smoke=smoke, data_root=None if data_root is None else str(paths.data_dir(data_root)),
                                  device=device)
    return EvaluationPlan(evaluations, {"gradient-masking": masking_pairings(grid, grid)}, settings)


def plan(options: ReproduceOptions) -> EvaluationPlan:
    return reproduce_plan(DATASET, options.smoke, options.runs_dir, options.data_dir, options.device)


def summary(options: ReproduceOptions) -> str:
    from selrob.tables.runs import results_report

    return results_report(options.runs_dir, DATASET)


TITLE = "Linking average- and worst-case perturbation robustness via class selectivity and dimensionality"


def claims(options: ReproduceOptions, dataset: str | None = None,
           keys: Sequence[str] | None = None) -> tuple[pd.DataFrame, str]:
    """The claims table of the sweep of ``dataset`` (default digits) and its markdown report,
    which says what it was computed from and on which machine (only the claims ``keys`` when given)."""
    from selrob.studies.selectivity_claims import CLAIMS, ClaimInputs
    from selrob.tables.claims import claims_markdown, claims_table
    from selrob.tables.runs import trained_on

    name = dataset or DATASET
    inputs = ClaimInputs(name, options.smoke, options.runs_dir, options.data_dir)
    table = claims_table(CLAIMS if keys is None else [claim for claim in CLAIMS if claim.key in keys], inputs)
    runs = inputs.runs
    preamble = [
        f"Claims of *{TITLE}* tested on the {name} sweep{' (smoke)' if options.smoke else ''}: "
        f"{runs['arch'].iloc[0]}, alpha in {{{', '.join(f'{a:g}' for a in sorted(runs['alpha'].unique()))}}} x "
        f"{runs['seed'].nunique()} seeds, {inputs.images()} test images per evaluation. Effects are least-squares "
        "slopes over runs per unit alpha (or per PGD-training step) or mean paired differences, with t 95% CIs; "
        "each claim is tested on its own at the 5% level.",
        "",
        f"Runs trained on {trained_on(runs)}. Training is deterministic per machine and processor, not across "
        "them: another machine trains other networks, and its numbers differ within the spread of seeds.",
    ]
    return table, claims_markdown(table, preamble)


def declared_claims() -> Sequence[Claim]:
    from selrob.studies.selectivity_claims import CLAIMS

    return CLAIMS


SELECTIVITY = Study(
    name="selectivity", title=TITLE, paper_url="https://arxiv.org/abs/2010.07693", notebooks=NOTEBOOKS, prepare=prepare, plan=plan,
    notebook_parameters=notebook_parameters_of(DATASET), summary=summary, claims=claims,
    datasets=tuple(name for name, grid in GRIDS.items() if len(grid["alphas"]) > 1),  # those with an alpha sweep
    figures=FIGURES, declared_claims=declared_claims,
)
