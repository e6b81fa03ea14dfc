"""One model, every measure of both papers (notebook ``14_model_report``): what is cached with its
headline value, what is missing with the command that fills it, and what does not apply to the
model's dataset, with why. Nothing here computes an evaluation: the report reads caches only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from selrob.errors import SelrobError
from selrob.evaluations.correct_subset import robustness_pairings
from selrob.evaluations.registry import EvaluationContext, EvaluationSettings, registered_evaluations
from selrob.store.sources import ModelSource
from selrob.tables.evaluations import evaluation_table, headline_table

CACHED, MISSING, NOT_APPLICABLE, PAIRWISE = "cached", "missing", "does not apply", "needs a pair"


def report_table(source: ModelSource, settings: EvaluationSettings, model_flags: str) -> pd.DataFrame:
    """One row per registered evaluation: ``evaluation``, ``description``, ``status`` (cached,
    missing, does not apply, needs a pair), ``value`` (its headline, when cached) and ``note`` (why
    it does not apply, or the command that fills it: ``selrob evaluate NAME <model_flags> ...``)."""
    context = EvaluationContext(source.dataset, settings)
    rows = []
    for name, evaluation in registered_evaluations().items():
        row = {"evaluation": name, "description": evaluation.description, "value": float("nan")}
        if (reason := evaluation.unavailable(source.dataset)) is not None:
            rows.append({**row, "status": NOT_APPLICABLE, "note": reason})
            continue
        if evaluation.pairwise and evaluation.pairings is not robustness_pairings:
            rows.append({**row, "status": NOT_APPLICABLE, "note": "it pairs the runs of a sweep (alpha = 0 replicates), "
                         "not models given to selrob"})
            continue
        if evaluation.pairwise:
            rows.append({**row, "status": PAIRWISE, "note": "compares a standard and a robust model: `selrob pair add`, "
                         f"then `selrob evaluate {name} --pair PAIR`"})
            continue
        command = " ".join(part for part in (f"selrob evaluate {name}", model_flags, settings.command_flags(evaluation)) if part)
        try:
            cached = evaluation.is_cached(source, context)
        except SelrobError as missing_data:  # a missing -C set, say: its one line names the command
            rows.append({**row, "status": MISSING, "note": str(missing_data)})
            continue
        if not cached:
            rows.append({**row, "status": MISSING, "note": f"`{command}`"})
            continue
        table = evaluation_table(evaluation, [source], settings, evaluate=False, progress=False)
        value = float(headline_table(evaluation, table)[evaluation.value].astype(float).mean())
        rows.append({**row, "status": CACHED, "value": value, "note": f"{evaluation.value}: {evaluation.headline_label}"})
    return pd.DataFrame(rows, columns=["evaluation", "status", "value", "note", "description"])


@dataclass(frozen=True)
class Panel:
    """One plot of the report: ``evaluation``'s table summarised (``summary``) to an ``x`` and a
    ``y`` column, drawn as a ``line`` or ``bar`` plot."""

    evaluation: str
    title: str
    x: str
    y: str
    kind: str
    summary: Callable[[pd.DataFrame], pd.DataFrame]


def _mean_by(x: str, y: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda table: table.groupby(x, as_index=False)[y].mean()


def _pca_95(table: pd.DataFrame) -> pd.DataFrame:
    chosen = table[(table["measure"] == "pca") & (table["threshold"].round(4) == 0.95)]
    return chosen.groupby("layer", as_index=False)["dimensionality"].mean()


def _cue_shares(table: pd.DataFrame) -> pd.DataFrame:
    conflict = table[table["conflict"]]
    return conflict["cue"].value_counts(normalize=True).rename_axis("decision").reset_index(name="share")


def _units_per_category(table: pd.DataFrame) -> pd.DataFrame:
    interpretable = table[table["interpretable"]]
    return interpretable.groupby("category", as_index=False).size().rename(columns={"size": "units"})


#: The report's plots, in the papers' order: the first paper's measures, then the second's.
PANELS = (
    Panel("unit-selectivity", "class selectivity per layer (Eq. 1)", "layer", "selectivity", "line",
          _mean_by("layer", "selectivity")),
    Panel("dimensionality-clean", "PCA dimensionality at 95% variance (Fig. 4a)", "layer", "dimensionality", "line", _pca_95),
    Panel("unit-gradients", "input-unit gradient variability (Fig. 3)", "layer", "mean_cv_u", "line",
          _mean_by("layer", "mean_cv_u")),
    Panel("corruptions", "accuracy on corruptions (Fig. 1)", "severity", "accuracy", "line", _mean_by("severity", "accuracy")),
    Panel("fgsm", "FGSM accuracy (Fig. 2a)", "epsilon", "accuracy", "line", _mean_by("epsilon", "accuracy")),
    Panel("pgd", "PGD accuracy per step (Fig. 2b)", "step", "accuracy", "line", _mean_by("step", "accuracy")),
    Panel("cue-conflict", "cue-conflict decisions (Table 2)", "decision", "share", "bar", _cue_shares),
    Panel("distorted-images", "accuracy per image type (Table 3)", "image_type", "correct", "bar",
          _mean_by("image_type", "correct")),
    Panel("kernel-tv", "kernel total variation per conv layer (Table 4)", "depth", "mean_tv", "bar",
          _mean_by("depth", "mean_tv")),
    Panel("dissection", "interpretable units per concept category (Fig. 4a)", "category", "units", "bar",
          _units_per_category),
)


def report_panels(source: ModelSource, settings: EvaluationSettings, report: pd.DataFrame) -> list[tuple[Panel, pd.DataFrame]]:
    """The :data:`PANELS` whose evaluation ``report`` (:func:`report_table`) found cached, with their data."""
    cached = set(report.loc[report["status"] == CACHED, "evaluation"])
    return [(panel, panel.summary(evaluation_table(panel.evaluation, [source], settings, evaluate=False, progress=False)))
            for panel in PANELS if panel.evaluation in cached]
