"""Precompute every cached evaluation the notebooks read, in worker processes.

Notebooks evaluate what is missing themselves, one run after another in one process. Before
executing them, ``selrob reproduce`` fills the caches here with one
job per run (corruptions, FGSM, PGD, Jacobian, dimensionality, input-unit gradients) and one per
alpha = 0 source of the
gradient-masking check, spread over worker processes; two single-thread workers beat one
two-thread process on these small models. Results land in the same cache files, so the
notebooks then only read and plot.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from selrob.analysis.dimensionality import DimensionalitySettings
from selrob.attacks import AttackSettings
from selrob.errors import SelrobError
from selrob.parallel import default_workers, job_errors
from selrob.runs import Run


@dataclass(frozen=True)
class EvaluationPlan:
    """What to evaluate: ``attacked`` runs get FGSM, PGD and the Jacobian, and with ``sources``
    (their alpha = 0 runs) the gradient-masking check; ``corrupted`` runs (``corruption_source``
    of their dataset's -C set, when given) every corruption cell. With ``dimensionality``,
    attacked runs also get the clean, PGD and (with a corruption source) corruption
    dimensionality and the input-unit gradients (on ``unit_gradient_samples`` test images)."""

    attacked: Sequence[Run]
    sources: Sequence[Run]
    corrupted: Sequence[Run]
    settings: AttackSettings
    corruption_source: str | None = "generated"
    dimensionality: DimensionalitySettings | None = DimensionalitySettings()
    unit_gradient_samples: int | None = None


def _run_job(run_dir: str, attacks: bool, corrupted: bool, plan: EvaluationPlan, data_root: str | None,
             device: str | None) -> None:
    from selrob.analysis import dimensionality as dims
    from selrob.analysis.corruption_robustness import evaluate_corruptions
    from selrob.analysis.stability import evaluate_unit_gradients
    from selrob.analysis.worst_case import evaluate_fgsm, evaluate_jacobian, evaluate_pgd
    from selrob.data.corrupted import CorruptedSet

    run = Run(Path(run_dir))
    source = plan.corruption_source
    corrupted_set = None if source is None else CorruptedSet(run.config().dataset, source, data_root)
    # Dimensionality first: its PGD and corruption passes also fill the accuracy caches.
    if attacks and plan.dimensionality is not None:
        dims.evaluate_pgd_dimensionality(run, plan.settings, plan.dimensionality, data_root, device)
        dims.evaluate_clean_dimensionality(run, plan.dimensionality, data_root, device)
        if corrupted_set is not None:
            dims.evaluate_corruption_dimensionality(run, corrupted_set, plan.dimensionality, data_root, device)
        evaluate_unit_gradients(run, plan.unit_gradient_samples, data_root, device)
    if corrupted and corrupted_set is not None:
        evaluate_corruptions(run, corrupted_set, device=device, progress=False)
    if attacks:
        evaluate_fgsm(run, plan.settings, data_root, device)
        evaluate_pgd(run, plan.settings, data_root, device)
        evaluate_jacobian(run, data_root, device)


def _masking_job(pairs: list[tuple[str, str, str]], settings: AttackSettings, data_root: str | None,
                 device: str | None) -> None:
    from selrob.analysis.gradient_masking import Pairing, evaluate_gradient_masking

    pairings = [Pairing(Run(Path(source)), Run(Path(target)), relation) for source, target, relation in pairs]
    evaluate_gradient_masking(pairings, settings, data_root, device)


def evaluate_plan(
    plan: EvaluationPlan,
    data_root: str | Path | None = None,
    device: str | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> None:
    """Fill the caches of ``plan``; on a GPU (or with ``workers=1``) in this process."""
    from selrob.analysis.gradient_masking import masking_pairings

    data = None if data_root is None else str(data_root)
    jobs: list[tuple[Callable[..., None], tuple[object, ...]]] = []
    if plan.sources:  # first: each also fills its source's PGD cache, which the run jobs then reuse
        by_source: dict[Run, list[tuple[str, str, str]]] = {}
        for pairing in masking_pairings(plan.attacked, plan.sources):
            by_source.setdefault(pairing.source, []).append((str(pairing.source.path), str(pairing.target.path),
                                                             pairing.relation))
        jobs += [(_masking_job, (pairs, plan.settings, data, device)) for pairs in by_source.values()]
    attacked, corrupted = set(plan.attacked), set(plan.corrupted)
    jobs += [
        (_run_job, (str(run.path), run in attacked, run in corrupted, plan, data, device))
        for run in dict.fromkeys([*plan.attacked, *plan.corrupted])
    ]
    bar = tqdm(total=len(jobs), desc="evaluations", unit="job", disable=not progress)
    failures = []
    for _, error in job_errors(_call, jobs, workers or default_workers(len(jobs), device)):
        if error is not None:
            failures.append(str(error))
        bar.update()
    bar.close()
    if failures:
        raise SelrobError(f"{len(failures)} of {len(jobs)} evaluation jobs failed: " + "; ".join(failures))


def _call(function: Callable[..., None], args: tuple[object, ...]) -> None:
    function(*args)


def reproduce_plan(dataset: str, smoke: bool, runs_root: str | Path | None = None) -> EvaluationPlan:
    """What the notebooks of ``selrob reproduce`` read: attacks and corruptions for the alpha
    grid, corruptions for the AugMix runs (the PGD-trained runs need only their summaries)."""
    from selrob.attacks import attack_settings
    from selrob.sweep import sweep_configs

    grid = [Run.for_config(c, runs_root) for c in sweep_configs(dataset, smoke=smoke)]
    augmix = [Run.for_config(c, runs_root) for c in sweep_configs(dataset, alphas=0.0, smoke=smoke, augmix=True)]
    sources = [run for run in grid if run.config().alpha == 0]
    return EvaluationPlan(grid, sources, grid + augmix, attack_settings(dataset, smoke=smoke))
