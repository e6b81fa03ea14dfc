"""Evaluation tables: one tidy frame per registered evaluation, for any model sources.

:func:`evaluation_table` evaluates what is not cached yet (or, with ``evaluate=False``, names the
command that computes it) and returns the source's identity keys followed by the evaluation's
columns (:mod:`selrob.evaluations.registry`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from selrob.progress import progress_bar

from selrob.errors import SelrobError
from selrob.evaluations.registry import Evaluation, EvaluationContext, EvaluationSettings, get_evaluation
from selrob.store.runs import RUN_KEYS, Run
from selrob.store.sources import ModelSource

Sources = pd.DataFrame | Sequence[ModelSource]


def sources_of(runs: Sources) -> list[ModelSource]:
    """Model sources of a runs table (its ``source`` column, or its ``run_dir`` column as from
    :func:`selrob.load_sweep`), or the sources themselves."""
    if isinstance(runs, pd.DataFrame):
        if "source" in runs:
            return list(runs["source"])
        return [Run(Path(folder)) for folder in runs["run_dir"]] if len(runs) else []
    return list(runs)


def source_of(row: pd.Series) -> ModelSource:
    """The model source of one row of a runs table."""
    return sources_of(pd.DataFrame([row]))[0]


def single_dataset(sources: Sequence[ModelSource]) -> str:
    """The one dataset of ``sources``; mixing datasets is an error."""
    datasets = sorted({source.dataset for source in sources})
    if len(datasets) != 1:
        raise SelrobError(f"sources of one dataset at a time, got {', '.join(datasets) or 'none'}")
    return datasets[0]


def _not_cached(evaluation: Evaluation, name: str, context: EvaluationContext) -> SelrobError:
    return SelrobError(f"{name} has no cached {evaluation.name} yet; compute it with `selrob evaluate {evaluation.name} "
                       f"--dataset {context.dataset}{context.settings.command_flags(evaluation)}` and the flags that select "
                       "these runs, or with the notebook")


def cached_result(name: str | Evaluation, source: ModelSource, settings: EvaluationSettings | None = None,
                  evaluate: bool = True) -> Any:
    """Evaluation ``name``'s result for ``source``, computed when missing if ``evaluate``, else
    an error naming the command that computes it."""
    evaluation = get_evaluation(name)
    context = EvaluationContext(source.dataset, settings or EvaluationSettings())
    if not evaluate and not evaluation.is_cached(source, context):
        raise _not_cached(evaluation, source.name, context)
    return evaluation.evaluate(source, context)


def evaluation_table(
    name: str | Evaluation,
    runs: Sources,
    settings: EvaluationSettings | None = None,
    *,
    sources: Sources | None = None,
    evaluate: bool = True,
    progress: bool = True,
) -> pd.DataFrame:
    """One row per result row of evaluation ``name`` for every source of ``runs``.

    ``sources`` are the candidate first members of a pairwise evaluation's pairs (default: the
    sources of ``runs`` themselves). Results not cached yet are computed when ``evaluate`` is
    true, else they are an error naming the command that computes them.
    """
    evaluation = get_evaluation(name)
    targets = sources_of(runs)
    if not targets:
        return pd.DataFrame(columns=[*RUN_KEYS, *evaluation.columns])
    context = EvaluationContext(single_dataset(targets), settings or EvaluationSettings())
    if (reason := evaluation.unavailable(context.dataset)) is not None:
        raise SelrobError(f"{evaluation.name} does not apply to {context.dataset} models: {reason}")
    columns = [*targets[0].identity, *evaluation.columns]
    rows: list[dict[str, Any]] = []
    if evaluation.pairwise:
        assert evaluation.pairings is not None
        pairings = evaluation.pairings(targets, sources_of(sources) if sources is not None else targets)
        if not evaluate:
            missing = [p for p in pairings if not evaluation.is_cached(p, context)]
            if missing:
                raise _not_cached(evaluation, missing[0].target.name, context)
        results = evaluation.evaluate(pairings, context)
        for pairing, result in zip(pairings, results):
            keys = pairing.target.identity  # read once per source: Run.identity hashes its configuration
            rows += [{**keys, **row} for row in evaluation.rows(result, context, pairing)]
    else:
        for source in progress_bar(targets, desc=evaluation.name, unit="model", disable=not progress, leave=False):
            if not evaluate and not evaluation.is_cached(source, context):
                raise _not_cached(evaluation, source.name, context)
            keys = source.identity
            rows += [{**keys, **row} for row in evaluation.rows(evaluation.evaluate(source, context), context)]
    return pd.DataFrame(rows, columns=columns)


def headline_table(name: str | Evaluation, table: pd.DataFrame) -> pd.DataFrame:
    """One row per source of an :func:`evaluation_table`: its identity keys and the mean of the
    evaluation's ``value`` over the rows its ``headline`` keeps (e.g. PGD's last step)."""
    evaluation = get_evaluation(name)
    keys = [column for column in table.columns if column not in evaluation.columns]
    return evaluation.headline(table).groupby(keys, as_index=False, sort=False)[evaluation.value].mean()


def evaluate(source: ModelSource, name: str | Evaluation, *, standard: ModelSource | None = None,
             settings: EvaluationSettings | None = None, max_eval_samples: int | None = None) -> pd.DataFrame:
    """The table of evaluation ``name`` of one model source (e.g. :func:`selrob.model_source`'s),
    computed once and cached with its other results; a pairwise evaluation (``correct-subset``,
    ``activation-tv``) compares the robust ``source`` with its ``standard`` partner, whatever their
    architectures. ``max_eval_samples`` evaluates on the first test images only (cached apart)."""
    from selrob.store.sources import Relabelled, first_test_images

    evaluation = get_evaluation(name)
    if evaluation.pairwise != (standard is not None):
        raise SelrobError(f"{evaluation.name} compares a robust model with its standard partner: pass standard="
                          if evaluation.pairwise else f"{evaluation.name} evaluates one model: drop standard=")
    target = first_test_images(source, max_eval_samples)
    if standard is None:
        return evaluation_table(evaluation, [target], settings, progress=False)
    if not source.adversarially_trained or standard.adversarially_trained:
        raise SelrobError(f"{evaluation.name} compares a robust source with a standard partner; {source.name} is "
                          f"{'robust' if source.adversarially_trained else 'standard'} and {standard.name} "
                          f"{'robust' if standard.adversarially_trained else 'standard'}")
    # The pairings match models by dataset, arch and seed: the partner takes the source's arch label.
    partner = Relabelled(first_test_images(standard, max_eval_samples), str(source.identity["arch"]))
    return evaluation_table(evaluation, [target], settings, sources=[partner], progress=False)


def evaluation_tables(names: Sequence[str], runs: Sources, settings: EvaluationSettings | None = None,
                      **options: Any) -> pd.DataFrame:
    """:func:`evaluation_table` of several evaluations with the same columns, concatenated."""
    return pd.concat([evaluation_table(name, runs, settings, **options) for name in names], ignore_index=True)
