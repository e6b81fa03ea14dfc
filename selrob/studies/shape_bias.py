"""The second paper's study: the shape and simplicity biases of adversarially robust CNNs (Chen,
Agarwal & Nguyen, ICLR 2021 submission), on the embedded shape-texture world by default.

Models: per architecture of :data:`selrob.config.ROBUST_PAIR_GRIDS` and seed, a standard (S) and
an adversarially trained (R) model (:func:`selrob.config.robust_pair_configs`). Plan: every model
gets its clean predictions, its accuracy under L2 PGD (Table 1), its cue-conflict decisions
(Table 2), its predictions on the world's -C set and distorted images (Table 3) and its kernels'
total variation (Table 4), its Network Dissection on the world's probe set (Fig 4a) and the
ablation of each of its dissected channels on the cue-conflict images (Fig 4b); every pair its
correctly classified subset and the activation TV of both models on it (Fig 3).
Notebooks 09 (Tables 1, 2), 10 (Table 3), 11 (Table 4, filters), 12 (what units detect) and 13
(channel ablation).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from selrob import paths
from selrob.config import ROBUST_PAIR_GRIDS, robust_pair_configs
from selrob.evaluations.correct_subset import robustness_pairings
from selrob.evaluations.registry import EvaluationSettings
from selrob.pipeline.reproduce import ReproduceOptions, Study, StudyNotebook, notebook_parameters_of
from selrob.pipeline.stage import EvaluationPlan
from selrob.store.runs import Run
from selrob.tables.claims import Claim
from selrob.studies.shape_bias_figures import FIGURES

DATASET = "shapes"
_PARAMETERS = frozenset({"dataset", "smoke", "runs_dir", "figures_dir", "data_dir"})
NOTEBOOKS = tuple(StudyNotebook(stem, title, _PARAMETERS) for stem, title in (
    ("09_shape_bias", "clean and L2 PGD accuracy, cue-conflict shape bias"),
    ("10_distorted_images", "accuracy on corrupted, scrambled, stylized, contour and silhouette images"),
    ("11_smoothness", "smoothness of filters and activation maps"),
    ("12_network_dissection", "what units detect (Network Dissection)"),
    ("13_channel_ablation", "what zeroing one unit costs (channel ablation)")))
#: What every model gets.
EVALUATIONS = ("predictions", "l2-pgd", "cue-conflict", "corruption-predictions", "distorted-images", "kernel-tv",
               "dissection", "channel-ablation")
#: What every pair gets.
PAIR_EVALUATIONS = ("correct-subset", "activation-tv")
TITLE = "The shape and simplicity biases of adversarially robust ImageNet-trained CNNs"


def prepare(options: ReproduceOptions) -> None:
    """Train the S and R model of every (arch, seed) and generate the world's -C set (the 15
    common corruptions of Table 3c)."""
    from selrob.corruptions import COMMON
    from selrob.corruptions.generate import make_corrupted_set
    from selrob.pipeline.sweep import run_sweep

    run_sweep(robust_pair_configs(DATASET, smoke=options.smoke), workers=options.workers, runs_root=options.runs_dir,
              data_root=options.data_dir, device=options.device)
    make_corrupted_set(DATASET, options.data_dir, list(COMMON), workers=options.workers)


def plan(options: ReproduceOptions) -> EvaluationPlan:
    runs = [Run.for_config(c, options.runs_dir) for c in robust_pair_configs(DATASET, smoke=options.smoke)]
    settings = EvaluationSettings(smoke=options.smoke, device=options.device,
                                  data_root=None if options.data_dir is None else str(paths.data_dir(options.data_dir)))
    pairings = robustness_pairings(runs, runs)
    return EvaluationPlan({name: list(runs) for name in EVALUATIONS}, {name: pairings for name in PAIR_EVALUATIONS},
                          settings)


def summary(options: ReproduceOptions) -> str:
    """Tables 1 to 4 and Fig 4a's unit counts of the pairs, as text."""
    from selrob.tables.dissection import category_count_table, unit_table
    from selrob.tables.distorted_images import COLUMNS, distorted_accuracy_table
    from selrob.tables.robust_pairs import accuracy_table, load_robust_pairs, shape_bias_table
    from selrob.tables.smoothness import kernel_tv_table

    runs = load_robust_pairs(DATASET, smoke=options.smoke, runs_root=options.runs_dir).runs
    settings = EvaluationSettings(smoke=options.smoke,
                                  data_root=None if options.data_dir is None else str(paths.data_dir(options.data_dir)))
    table3 = distorted_accuracy_table(runs, settings, evaluate=False)
    with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 160):
        return "\n".join([f"Table 1 ({DATASET}): clean and L2 PGD accuracy, mean over seeds [95% CI]",
                          accuracy_table(runs, settings, evaluate=False).to_string(index=False),
                          f"Table 2 ({DATASET}): shares of the cue-conflict decisions that follow a cue",
                          shape_bias_table(runs, settings, evaluate=False).to_string(index=False),
                          f"Table 3 ({DATASET}): accuracy on the pair's correctly classified subset, mean over seeds",
                          table3[["pair", "model", *COLUMNS, "images"]].to_string(index=False),
                          f"Table 4 ({DATASET}): mean total variation of the conv kernels",
                          kernel_tv_table(runs, settings, evaluate=False).to_string(index=False),
                          f"Fig 4a ({DATASET}): interpretable units per category, mean over seeds",
                          category_count_table(unit_table(runs, settings, evaluate=False)).to_string(index=False)])


def claims(options: ReproduceOptions, dataset: str | None = None,
           keys: Sequence[str] | None = None) -> tuple[pd.DataFrame, str]:
    """The claims table of the S / R pairs and its markdown report (only the claims ``keys``
    when given, e.g. those of one notebook, :meth:`~selrob.pipeline.reproduce.Study.notebook_claims`)."""
    from selrob.studies.shape_bias_claims import CLAIMS, PairInputs
    from selrob.tables.claims import claims_markdown, claims_table
    from selrob.tables.runs import trained_on

    name = dataset or DATASET
    inputs = PairInputs(name, options.smoke, options.runs_dir, options.data_dir)
    chosen = CLAIMS if keys is None else [claim for claim in CLAIMS if claim.key in keys]
    table = claims_table(chosen, inputs)
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


def declared_claims() -> Sequence[Claim]:
    from selrob.studies.shape_bias_claims import CLAIMS

    return CLAIMS


SHAPE_BIAS = Study(
    name="shape_bias", title=TITLE, paper_url="https://arxiv.org/abs/2006.09373", notebooks=NOTEBOOKS, prepare=prepare,
    plan=plan, notebook_parameters=notebook_parameters_of(DATASET), summary=summary, claims=claims,
    datasets=tuple(ROBUST_PAIR_GRIDS), figures=FIGURES, declared_claims=declared_claims,
)
