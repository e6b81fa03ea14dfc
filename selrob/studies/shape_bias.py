"""The second paper's study: the shape and simplicity biases of adversarially robust CNNs (Chen,
Agarwal & Nguyen, ICLR 2021 submission), on the embedded shape-texture world by default.

Models: per architecture of :data:`selrob.config.ROBUST_PAIR_GRIDS` and seed, a standard (S) and
an adversarially trained (R) model (:func:`selrob.config.robust_pair_configs`). Plan: every model
gets its clean predictions, its accuracy under L2 PGD (Table 1) and its cue-conflict decisions
(Table 2); every pair its correctly classified subset. Notebook 09.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from selrob import paths
from selrob.config import robust_pair_configs
from selrob.evaluations.correct_subset import robustness_pairings
from selrob.evaluations.registry import EvaluationSettings
from selrob.pipeline.reproduce import ReproduceOptions, Study, StudyNotebook
from selrob.pipeline.stage import EvaluationPlan
from selrob.store.runs import Run

DATASET = "shapes"
NOTEBOOKS = (StudyNotebook("09_shape_bias", frozenset({"dataset", "smoke", "runs_dir", "figures_dir", "data_dir"})),)
#: What every model gets.
EVALUATIONS = ("predictions", "l2-pgd", "cue-conflict")
TITLE = "The shape and simplicity biases of adversarially robust ImageNet-trained CNNs"


def prepare(options: ReproduceOptions) -> None:
    """Train the S and R model of every (arch, seed)."""
    from selrob.pipeline.sweep import run_sweep

    run_sweep(robust_pair_configs(DATASET, smoke=options.smoke), workers=options.workers, runs_root=options.runs_dir,
              data_root=options.data_dir, device=options.device)


def plan(options: ReproduceOptions) -> EvaluationPlan:
    runs = [Run.for_config(c, options.runs_dir) for c in robust_pair_configs(DATASET, smoke=options.smoke)]
    settings = EvaluationSettings(smoke=options.smoke, device=options.device,
                                  data_root=None if options.data_dir is None else str(paths.data_dir(options.data_dir)))
    return EvaluationPlan({name: list(runs) for name in EVALUATIONS},
                          {"correct-subset": robustness_pairings(runs, runs)}, settings)


def notebook_parameters(options: ReproduceOptions) -> dict[str, Any]:
    return {"dataset": DATASET, "smoke": options.smoke, "runs_dir": str(paths.runs_dir(options.runs_dir)),
            "figures_dir": str(paths.figures_dir(options.figures_dir)), "data_dir": str(paths.data_dir(options.data_dir))}


def summary(options: ReproduceOptions) -> str:
    """Table 1 and Table 2 of the pairs, as text."""
    from selrob.tables.robust_pairs import accuracy_table, load_robust_pairs, shape_bias_table

    runs = load_robust_pairs(DATASET, smoke=options.smoke, runs_root=options.runs_dir).runs
    settings = EvaluationSettings(smoke=options.smoke)
    with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 160):
        return "\n".join([f"Table 1 ({DATASET}): clean and L2 PGD accuracy, mean over seeds [95% CI]",
                          accuracy_table(runs, settings, evaluate=False).to_string(index=False),
                          f"Table 2 ({DATASET}): shares of the cue-conflict decisions that follow a cue",
                          shape_bias_table(runs, settings, evaluate=False).to_string(index=False)])


def claims(options: ReproduceOptions, dataset: str | None = None) -> tuple[pd.DataFrame, str]:
    """The claims table of the S / R pairs and its markdown report."""
    from selrob.studies.shape_bias_claims import CLAIMS, PairInputs
    from selrob.tables.claims import claims_markdown, claims_table
    from selrob.tables.runs import trained_on

    name = dataset or DATASET
    inputs = PairInputs(name, options.smoke, options.runs_dir, options.data_dir)
    table = claims_table(CLAIMS, inputs)
    runs = inputs.runs
    robust = runs[runs["training"] == "robust"].iloc[0]
    preamble = [
        f"Claims of *{TITLE}* tested on the {name} world{' (smoke)' if options.smoke else ''}: standard / robust "
        f"pairs of {', '.join(dict.fromkeys(runs['arch']))} x {runs['seed'].nunique()} seeds, robust models trained "
        f"with {int(robust['adversarial_steps'])}-step L2 PGD (epsilon {robust['adversarial_epsilon']:g}). Effects are "
        "mean paired differences (robust minus standard, per architecture and seed) with t 95% CIs; each claim is "
        "tested on its own at the 5% level.",
        "",
        f"Runs trained on {trained_on(runs)}. Training is "
        "deterministic per machine and processor, not across them.",
    ]
    return table, claims_markdown(table, preamble)


SHAPE_BIAS = Study(
    name="shape_bias", title=TITLE, paper_url="https://arxiv.org/abs/2006.09373", notebooks=NOTEBOOKS, prepare=prepare,
    plan=plan, notebook_parameters=notebook_parameters, summary=summary, claims=claims,
)
