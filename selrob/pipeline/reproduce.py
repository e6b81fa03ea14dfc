"""``selrob reproduce``: for each chosen study, train its models and make its data, fill its
evaluation caches in worker processes, then execute its notebooks (which only read and plot)."""

from __future__ import annotations

from collections.abc import Sequence

from tqdm.auto import tqdm

from selrob import paths
from selrob.errors import SelrobError
from selrob.pipeline.notebooks import execute_notebook
from selrob.pipeline.parallel import job_errors
from selrob.pipeline.stage import evaluate_plan
from selrob.studies import ReproduceOptions, Study

#: Notebooks executed at once: every cache is filled by then, so they share the two cores.
NOTEBOOK_WORKERS = 2


def reproduce(studies: Sequence[Study], options: ReproduceOptions) -> str:
    """Run ``studies`` end to end; returns what to print: where everything is, and each summary."""
    outputs = paths.outputs_dir(options.outputs_dir) / ("notebooks-smoke" if options.smoke else "notebooks")
    lines = []
    for study in studies:
        study.prepare(options)
        evaluate_plan(study.plan(options), options.workers)
        parameters = study.notebook_parameters(options)
        jobs = [(paths.notebooks_dir() / f"{notebook.stem}.ipynb", outputs, parameters) for notebook in study.notebooks]
        failures = [str(error) for _, error in tqdm(job_errors(execute_notebook, jobs, min(NOTEBOOK_WORKERS, len(jobs))),
                                                    total=len(jobs), desc=f"{study.name} notebooks", unit="notebook")
                    if error]
        if failures:
            raise SelrobError("; ".join(failures))
        lines += [f"{study.name}: {study.title}", study.summary(options)]
    lines += [f"executed notebooks in {outputs}", f"figures in {paths.figures_dir(options.figures_dir)}"]
    return "\n".join(lines)
