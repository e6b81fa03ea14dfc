"""The evaluation stage: fill every cache of an evaluation plan, in worker processes.

Notebooks evaluate what is missing themselves, one source after another in one process. Before
executing them, ``selrob reproduce`` fills the caches here: one job per source (all of its
evaluations, in dependency order) and one per first member of a pairwise evaluation's pairs,
spread over worker processes; two single-thread workers beat one two-thread process on these
small models. Within a job, an evaluation that declares it ``fills`` another's cache runs before
it, so that one reads instead of recomputing; jobs are submitted in that order too, so that the
passes that fill others' caches start first. With several workers jobs overlap, and a job that
finds a cache not filled yet computes the result itself (the same numbers, some work repeated).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from selrob.progress import progress_bar

from selrob.errors import SelrobError
from selrob.evaluations.registry import EvaluationContext, EvaluationSettings, Pairing, evaluation_order, get_evaluation
from selrob.parallel import default_workers, job_errors
from selrob.store.sources import ModelSource


@dataclass(frozen=True)
class EvaluationPlan:
    """What to evaluate: ``evaluations`` maps an evaluation's name to the sources it evaluates,
    ``pairings`` a pairwise evaluation's name to its pairs; one ``settings`` for all."""

    evaluations: Mapping[str, Sequence[ModelSource]] = field(default_factory=dict)
    pairings: Mapping[str, Sequence[Pairing]] = field(default_factory=dict)
    settings: EvaluationSettings = EvaluationSettings()


@dataclass(frozen=True)
class Job:
    """Evaluations of one source, or one pairwise evaluation of the pairs sharing a source."""

    names: tuple[str, ...]
    source: ModelSource | None = None
    pairings: tuple[Pairing, ...] = ()
    #: The modules that define (and so register) the evaluations, imported first by a worker.
    modules: tuple[str, ...] = ()

    def run(self, settings: EvaluationSettings) -> None:
        # A spawned worker starts with the project's registry: import the modules that register these.
        for name in self.modules:
            importlib.import_module(name)
        if self.source is not None:
            context = EvaluationContext(self.source.dataset, settings)
            for name in self.names:
                get_evaluation(name).evaluate(self.source, context)
        else:
            context = EvaluationContext(self.pairings[0].target.dataset, settings)
            get_evaluation(self.names[0]).evaluate(list(self.pairings), context)


def plan_jobs(plan: EvaluationPlan) -> list[Job]:
    """The plan's jobs, ordered by the first evaluation each runs in the declared dependency order."""
    order = evaluation_order([*plan.evaluations, *plan.pairings])
    by_source: dict[ModelSource, list[str]] = {}
    for name, sources in plan.evaluations.items():
        for source in sources:
            by_source.setdefault(source, []).append(name)
    jobs = [Job(tuple(sorted(names, key=order.index)), source=source, modules=_modules(names))
            for source, names in by_source.items()]
    for name, pairings in plan.pairings.items():
        groups: dict[ModelSource, list[Pairing]] = {}
        for pairing in pairings:
            groups.setdefault(pairing.source, []).append(pairing)
        jobs += [Job((name,), pairings=tuple(group), modules=_modules([name])) for group in groups.values()]
    return sorted(jobs, key=lambda job: order.index(job.names[0]))


def _modules(names: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(get_evaluation(name).evaluate.__module__ for name in names))


def evaluate_plan(plan: EvaluationPlan, workers: int | None = None, progress: bool = True) -> None:
    """Fill the caches of ``plan``; on a GPU (or with ``workers=1``) in this process."""
    jobs = plan_jobs(plan)
    bar = progress_bar(total=len(jobs), desc="evaluations", unit="job", disable=not progress)
    failures = []
    arguments = [(job, plan.settings) for job in jobs]
    for _, error in job_errors(_run_job, arguments, workers or default_workers(len(jobs), plan.settings.device)):
        if error is not None:
            failures.append(str(error))
        bar.update()
    bar.close()
    if failures:
        raise SelrobError(f"{len(failures)} of {len(jobs)} evaluation jobs failed: " + "; ".join(failures))


def _run_job(job: Job, settings: EvaluationSettings) -> None:
    job.run(settings)
