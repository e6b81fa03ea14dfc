"""The bridge study: the two papers joined, on the embedded shape-texture world by default.

The first paper changes class selectivity and asks how robustness follows; the second changes
robustness (adversarial training) and asks how shape bias and unit semantics follow. Here each
paper's measures are taken on the other's models:

* the first paper's on the second's S / R pairs (:func:`selrob.config.robust_pair_configs`, the
  ``shape_bias`` study's runs): per-layer class selectivity, early-layer PCA dimensionality of
  clean representations and of Gaussian-noise and PGD differences, input-unit gradient variability;
* the second paper's on an alpha sweep of the pairs' architectures
  (:func:`selrob.config.bridge_sweep_configs`; alpha 0 is the pairs' S models): cue-conflict
  shape bias, accuracy on stylized, contour and silhouette images, kernel total variation and
  Network Dissection's unit categories.

Its claims are two-sided questions (:mod:`selrob.studies.bridge_claims`). Notebook 15.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from selrob import paths
from selrob.config import BRIDGE_GRIDS, bridge_sweep_configs, robust_pair_configs
from selrob.evaluations.registry import EvaluationSettings
from selrob.pipeline.figures import PER_PAIRS, Figure
from selrob.pipeline.reproduce import ReproduceOptions, Study, StudyNotebook, notebook_parameters_of
from selrob.pipeline.stage import EvaluationPlan
from selrob.store.runs import Run
from selrob.tables.claims import SUPPORTS, Claim

DATASET = "shapes"
TITLE = "Class selectivity and robustness, both ways: the two papers joined"
NOTEBOOKS = (StudyNotebook("15_bridge", "the first paper's measures on S / R pairs, the second's along alpha",
                           frozenset({"dataset", "smoke", "runs_dir", "figures_dir", "data_dir"})),)
#: The first paper's measures, on every model of the pairs.
PAIR_EVALUATIONS = ("unit-selectivity", "dimensionality-clean", "dimensionality-corruptions", "dimensionality-pgd",
                    "unit-gradients")
#: The second paper's measures, on every run of the alpha sweep.
SWEEP_EVALUATIONS = ("predictions", "cue-conflict", "distorted-images", "kernel-tv", "dissection")

_PAIRS = ("unit-selectivity",)
FIGURES = (
    Figure("fig_bridge_selectivity_per_layer", "15_bridge", "1st: Fig A11a on 2nd's pairs",
           "Class selectivity per layer, S against R", _PAIRS,
           ("robust_selectivity", "robust_selectivity_early", "robust_selectivity_late"), per=PER_PAIRS),
    Figure("fig_bridge_dimensionality", "15_bridge", "1st: Fig 4 on 2nd's pairs",
           "PCA dimensionality per layer of clean, noise and PGD representations, S against R",
           ("dimensionality-clean", "dimensionality-corruptions", "dimensionality-pgd"),
           ("robust_dimensionality_clean", "robust_dimensionality_noise", "robust_dimensionality_pgd"), per=PER_PAIRS),
    Figure("fig_bridge_unit_gradients", "15_bridge", "1st: Fig 3 on 2nd's pairs",
           "Input-unit gradient variability within and across units, S against R", ("unit-gradients",),
           ("robust_cv_within_units", "robust_cv_across_units"), per=PER_PAIRS),
    Figure("fig_bridge_shape_bias_vs_alpha", "15_bridge", "2nd: Tables 2-4 along 1st's alpha",
           "Selectivity, shape bias, distorted-image accuracy and kernel TV against alpha",
           ("cue-conflict", "distorted-images", "predictions", "kernel-tv"),
           ("alpha_selectivity", "alpha_shape_bias", "alpha_stylized", "alpha_contour", "alpha_silhouette",
            "alpha_kernel_tv"), per=PER_PAIRS),
    Figure("fig_bridge_units_vs_alpha", "15_bridge", "2nd: Fig 4a along 1st's alpha",
           "Interpretable units per Network Dissection category against alpha", ("dissection",),
           ("alpha_texture_units", "alpha_object_units", "alpha_colour_units"), per=PER_PAIRS),
)


def _settings(options: ReproduceOptions) -> EvaluationSettings:
    from selrob.tables.bridge import bridge_settings

    return bridge_settings(EvaluationSettings(
        smoke=options.smoke, device=options.device,
        data_root=None if options.data_dir is None else str(paths.data_dir(options.data_dir))))


def prepare(options: ReproduceOptions) -> None:
    """Train the pairs (if the ``shape_bias`` study has not) and the alpha sweep, and make the
    world's Gaussian-noise -C cells."""
    from selrob.corruptions.generate import make_corrupted_set
    from selrob.pipeline.sweep import run_sweep
    from selrob.tables.bridge import NOISE

    configs = list(dict.fromkeys(robust_pair_configs(DATASET, smoke=options.smoke)
                                 + bridge_sweep_configs(DATASET, options.smoke)))
    run_sweep(configs, workers=options.workers, runs_root=options.runs_dir, data_root=options.data_dir,
              device=options.device)
    make_corrupted_set(DATASET, options.data_dir, [NOISE], workers=options.workers)


def plan(options: ReproduceOptions) -> EvaluationPlan:
    from selrob.tables.bridge import pair_source

    def runs(configs: Sequence[Any]) -> list[Run]:
        return [Run.for_config(c, options.runs_dir) for c in configs]

    pairs = [pair_source(run) for run in runs(robust_pair_configs(DATASET, smoke=options.smoke))]
    sweep = runs(bridge_sweep_configs(DATASET, options.smoke))
    evaluations = {name: list(pairs) for name in PAIR_EVALUATIONS}
    evaluations.update({name: list(sweep) for name in SWEEP_EVALUATIONS})
    return EvaluationPlan(evaluations, {}, _settings(options))


def summary(options: ReproduceOptions) -> str:
    """Per model of the pairs the first paper's measures, per run of the sweep the second's."""
    from selrob.studies.bridge_claims import BridgeInputs
    from selrob.tables.bridge import PER_MODEL

    inputs = BridgeInputs(DATASET, options.smoke, options.runs_dir, options.data_dir)
    dims = inputs.pair_dimensionality.pivot_table(index=["model", "seed"], columns="perturbation",
                                                  values="dimensionality").reset_index()
    pairs = inputs.pair_selectivity.merge(dims, on=["model", "seed"]).merge(inputs.pair_unit_gradients, on=PER_MODEL)
    keys = ["model", "seed", "alpha"]
    sweep = (inputs.sweep[[*keys, "mean_selectivity"]].merge(inputs.sweep_shape_bias[[*keys, "shape"]], on=keys)
             .merge(inputs.sweep_distorted.drop(columns=["arch", "training"]), on=keys)
             .merge(inputs.sweep_kernel_tv[[*keys, "mean_tv"]], on=keys))
    with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 160):
        return "\n".join([f"S / R pairs ({DATASET}): class selectivity (mean, early, late layers), early-layer PCA "
                          "dimensionality, input-unit gradient CVs",
                          pairs.drop(columns=["arch", "training"]).to_string(index=False),
                          f"Alpha sweep ({DATASET}): selectivity, shape bias, accuracy on distorted images, kernel TV",
                          sweep.to_string(index=False)])


def claims(options: ReproduceOptions, dataset: str | None = None,
           keys: Sequence[str] | None = None) -> tuple[pd.DataFrame, str]:
    """The bridge's questions answered on ``dataset``'s pairs and sweep, and the markdown report."""
    from selrob.studies.bridge_claims import CLAIMS, BridgeInputs
    from selrob.tables.claims import claims_markdown, claims_table
    from selrob.tables.runs import trained_on

    name = dataset or DATASET
    inputs = BridgeInputs(name, options.smoke, options.runs_dir, options.data_dir)
    table = claims_table(CLAIMS if keys is None else [claim for claim in CLAIMS if claim.key in keys], inputs)
    pairs, sweep = inputs.pairs, inputs.sweep
    robust = pairs[pairs["training"] == "robust"].iloc[0]
    preamble = [
        f"Questions joining the two papers, answered on the {name} world{' (smoke)' if options.smoke else ''}: "
        "the first paper's measures on the standard / robust pairs of "
        f"{', '.join(dict.fromkeys(pairs['arch']))} x {pairs['seed'].nunique()} seeds (robust: "
        f"{int(robust['adversarial_steps'])}-step L2 PGD training, epsilon {robust['adversarial_epsilon']:g}), the "
        f"second paper's on the alpha sweep of the same architectures, alpha in "
        f"{{{', '.join(f'{a:g}' for a in sorted(sweep['alpha'].unique()))}}} x {sweep['seed'].nunique()} seeds (alpha 0: "
        "the pairs' standard models). Neither paper asks these questions: each is two-sided, and the verdict names the "
        "side the 95% CI lies on. Robust-vs-standard effects are mean paired differences (R - S per architecture and "
        "seed); along-alpha effects are the mean over architectures and seeds of each one's least-squares slope per "
        "unit alpha; t 95% CIs, each question tested on its own at the 5% level. These are findings on the embedded "
        "world, not on ImageNet or CIFAR-10.",
        "",
        f"Runs trained on {trained_on(pd.concat([pairs, sweep], ignore_index=True))}. Training is deterministic per "
        "machine and processor, not across them.",
        *near_chance(pd.concat([pairs, sweep], ignore_index=True), name),
        "",
        sweep_accuracy(sweep, name),
        *manipulation_check(table),
    ]
    return table, claims_markdown(table, preamble)


def manipulation_check(table: pd.DataFrame) -> list[str]:
    """A line saying what the rows along alpha compare when the manipulation check (selectivity
    rises with alpha, the first paper's Fig A2) does not support it; none when it does."""
    rows = table[table["claim"] == "alpha_selectivity"]
    if rows.empty or rows["verdict"].iloc[0] == SUPPORTS:
        return []
    return ["", f"The manipulation check (class selectivity rises with alpha) is {rows['verdict'].iloc[0]} here: on "
                "these runs the regularizer did not measurably raise selectivity, so the rows along alpha compare "
                "regularizer strengths, not selectivity levels."]


def near_chance(runs: pd.DataFrame, dataset: str) -> list[str]:
    """A line naming the runs whose test accuracy is below twice chance (a run the regularizer or
    the attack kept from learning), whose measures enter the claims as they are; none when none is."""
    from selrob.data import dataset_info

    limit = 2 / dataset_info(dataset).num_classes
    low = runs[runs["test_accuracy"] < limit].drop_duplicates("run_dir")
    if low.empty:
        return []
    named = ", ".join(f"{row.model} seed {row.seed} ({row.test_accuracy:.3f})" for row in low.itertuples())
    return ["", f"Runs below twice chance test accuracy ({limit:.3f}): {named}. They are measured and counted like "
                "the others: the verdicts are about the models training gave, not only the good ones."]


def sweep_accuracy(sweep: pd.DataFrame, dataset: str) -> str:
    """A line with the alpha sweep's test accuracy per architecture and alpha, lowest to highest
    over seeds: a regularizer strength that kept an architecture from learning shows here even
    above twice chance (the slopes along alpha include it)."""
    ranges = sweep.groupby(["arch", "alpha"], sort=True)["test_accuracy"].agg(["min", "max"])

    def span(low: float, high: float) -> str:
        return f"{low:.3f}" if f"{low:.3f}" == f"{high:.3f}" else f"{low:.3f}-{high:.3f}"

    per_arch = {arch: ", ".join(f"alpha {alpha:g} {span(low, high)}"
                                for (_, alpha), low, high in zip(group.index, group["min"], group["max"]))
                for arch, group in ranges.groupby(level="arch", sort=False)}
    return (f"Test accuracy of the alpha sweep on the {dataset} test set, min-max of {sweep['seed'].nunique()} seeds: "
            + "; ".join(f"{arch}: {values}" for arch, values in per_arch.items()) + ".")


def declared_claims() -> Sequence[Claim]:
    from selrob.studies.bridge_claims import CLAIMS

    return CLAIMS


BRIDGE = Study(
    name="bridge", title=TITLE, paper_url="https://arxiv.org/abs/2010.07693", notebooks=NOTEBOOKS, prepare=prepare,
    plan=plan, notebook_parameters=notebook_parameters_of(DATASET), summary=summary, claims=claims,
    datasets=tuple(BRIDGE_GRIDS), figures=FIGURES, declared_claims=declared_claims,
)
