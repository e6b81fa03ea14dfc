"""``selrob reproduce``: for each chosen study, train its models and make its data, fill its
evaluation caches in worker processes, then execute its notebooks (which only read and plot).

A :class:`Study` is data plus five steps: ``prepare`` (train its models and make its data),
``plan`` (the :class:`~selrob.pipeline.stage.EvaluationPlan` its notebooks read),
``notebook_parameters`` (what every notebook of the study is run with), ``summary`` (lines
printed at the end) and ``claims`` (its findings tested, :mod:`selrob.tables.claims`). The studies
themselves are in :mod:`selrob.studies`.

A canonical reproduce (not smoke, the default runs and figures folders) also embeds each study's claims,
in short, in the README and writes the figures manifest (:mod:`selrob.pipeline.report`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from selrob.progress import progress_bar

from selrob import paths
from selrob.errors import SelrobError
from selrob.parallel import job_errors
from selrob.pipeline import report
from selrob.pipeline.figures import Figure
from selrob.pipeline.notebooks import execute_notebook
from selrob.pipeline.stage import EvaluationPlan, evaluate_plan
from selrob.tables.claims import Claim


@dataclass(frozen=True)
class ReproduceOptions:
    """The folders, device and workers of one ``selrob reproduce``; ``smoke`` shrinks every study."""

    smoke: bool = False
    workers: int | None = None
    runs_dir: Path | None = None
    data_dir: Path | None = None
    figures_dir: Path | None = None
    outputs_dir: Path | None = None
    device: str | None = None


def notebook_parameters_of(dataset: str) -> Callable[[ReproduceOptions], dict[str, Any]]:
    """What every notebook of a study on ``dataset`` is executed with: the dataset, ``smoke`` and
    the runs, figures and data folders of the options."""
    def parameters(options: ReproduceOptions) -> dict[str, Any]:
        return {"dataset": dataset, "smoke": options.smoke, "runs_dir": str(paths.runs_dir(options.runs_dir)),
                "figures_dir": str(paths.figures_dir(options.figures_dir)),
                "data_dir": str(paths.data_dir(options.data_dir))}

    return parameters


@dataclass(frozen=True)
class StudyNotebook:
    """One numbered notebook of a study, what it is about and the parameters it must declare."""

    stem: str
    title: str
    parameters: frozenset[str]


@dataclass(frozen=True)
class Study:
    """One paper's reproduction: its name, title, notebooks and the four steps of ``reproduce``."""

    name: str
    title: str
    #: The paper's arXiv address, cited in the README and in the first cell of every notebook.
    paper_url: str
    notebooks: tuple[StudyNotebook, ...]
    prepare: Callable[[ReproduceOptions], None]
    plan: Callable[[ReproduceOptions], EvaluationPlan]
    notebook_parameters: Callable[[ReproduceOptions], dict[str, Any]]
    summary: Callable[[ReproduceOptions], str]
    #: The claims table and its markdown report for a dataset (``None``: the study's default), of
    #: the claims with the given keys (``None``: every claim).
    claims: Callable[[ReproduceOptions, str | None, Sequence[str] | None], tuple[pd.DataFrame, str]]
    #: The datasets its claims can be tested on, the default (embedded) one first.
    datasets: tuple[str, ...]
    #: Every claim it tests (loaded on demand: the claims modules read the evaluations).
    declared_claims: Callable[[], Sequence[Claim]]
    #: Every figure its notebooks draw (:mod:`selrob.pipeline.figures`).
    figures: tuple[Figure, ...] = ()

    def notebook_claims(self, stem: str) -> tuple[str, ...]:
        """The keys of the claims backing the figures of notebook ``stem``, each once, in figure order."""
        return tuple(dict.fromkeys(key for figure in self.figures if figure.notebook == stem for key in figure.claims))


#: Notebooks executed at once: every cache is filled by then, so they share the two cores.
NOTEBOOK_WORKERS = 2


def reproduce(studies: Sequence[Study], options: ReproduceOptions) -> str:
    """Run ``studies`` end to end; returns what to print: where everything is, and each summary."""
    outputs = paths.outputs_dir(options.outputs_dir) / ("notebooks-smoke" if options.smoke else "notebooks")
    figures = paths.figures_dir(options.figures_dir)
    # Only the default folders make the figures and claims the README shows.
    canonical = (not options.smoke and figures == paths.repo_root() / "figures"
                 and paths.runs_dir(options.runs_dir) == paths.repo_root() / "runs")
    started = time.time()
    lines, reports = [], []
    for study in studies:
        study.prepare(options)
        evaluate_plan(study.plan(options), options.workers)
        parameters = study.notebook_parameters(options)
        jobs = [(paths.notebooks_dir() / f"{notebook.stem}.ipynb", outputs, parameters) for notebook in study.notebooks]
        failures = [str(error) for _, error in progress_bar(job_errors(execute_notebook, jobs, min(NOTEBOOK_WORKERS, len(jobs))),
                                                    total=len(jobs), desc=f"{study.name} notebooks", unit="notebook")
                    if error]
        if failures:
            raise SelrobError("; ".join(failures))
        table, markdown = study.claims(options, None, None)
        stem = report.claims_stem(study.name, options.smoke)
        reports += [path.name for path in report.write_claims(table, markdown, figures, stem)]
        if canonical:
            report.embed(paths.repo_root() / "README.md", stem, report.readme_block(table, stem))
        lines += [f"{study.name}: {study.title}", study.summary(options), markdown]
    if canonical:
        report.write_manifest(figures, reports, written_since=started,
                              drawn=[figure for study in studies for figure in study.figures])
    lines += [f"executed notebooks in {outputs}", f"figures and claims in {figures}"]
    return "\n".join(lines)
