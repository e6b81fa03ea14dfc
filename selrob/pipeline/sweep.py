"""Alpha x seed sweeps: locally in worker processes, or on Slurm (or locally) through submitit.

Every job calls :func:`selrob.training.train_run`, which skips finished runs and resumes
interrupted ones, so re-submitting a sweep only does the missing work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from selrob.progress import progress_bar

from selrob import paths
from selrob.errors import SelrobError
from selrob.parallel import default_workers, job_errors
from selrob.store.runs import Run
from selrob.config import TrainConfig
from selrob.training.loop import train_run

EXECUTORS = ("local", "submitit-local", "slurm")


@dataclass(frozen=True)
class SlurmOptions:
    """Resources per training job on Slurm (one run per job, submitted as a job array)."""

    partition: str | None = None
    timeout_min: int = 24 * 60
    gpus_per_node: int = 1
    cpus_per_task: int = 8
    mem_gb: int | None = None
    array_parallelism: int = 64


def relative_cost(config: TrainConfig) -> float:
    """Rough training cost in units of one standard epoch: AugMix passes three views of each
    batch, PGD and adversarial training add one forward and backward pass per attack step."""
    return config.epochs * (1 + 2 * config.augmix + (config.pgd_steps or 0) + (config.adversarial_steps or 0))


def _failure(config: TrainConfig, reason: object) -> str:
    return f"alpha={config.alpha:g} seed={config.seed}: {reason}"


def _train_job(config: dict[str, Any], runs_root: str, data_root: str | None, device: str | None,
               progress: bool = False) -> str:
    """One run; plain arguments, so that it pickles into worker processes."""
    return str(train_run(TrainConfig.from_dict(config), runs_root, data_root, device, progress=progress).path)


def _run_local(
    pending: list[TrainConfig], workers: int, runs_root: Path, data_root: str | None, device: str | None, progress: bool
) -> list[str]:
    failures: list[str] = []
    bar = progress_bar(total=len(pending), desc="runs", unit="run", disable=not progress)
    # Epoch bars only when runs go one at a time in this process.
    arguments = [(c.to_dict(), str(runs_root), data_root, device, progress and workers == 1) for c in pending]
    for index, error in job_errors(_train_job, arguments, workers):
        if error is not None:
            failures.append(_failure(pending[index], error))
        bar.update()
    bar.close()
    return failures


def _run_submitit(
    pending: list[TrainConfig],
    cluster: str,
    runs_root: Path,
    data_root: str | None,
    device: str | None,
    slurm: SlurmOptions,
    wait: bool,
    progress: bool,
) -> list[str]:
    import submitit

    folder = runs_root / "_submitit" / datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    local = cluster == "local"
    executor.update_parameters(
        name="selrob",
        timeout_min=slurm.timeout_min,
        gpus_per_node=0 if local else slurm.gpus_per_node,
        cpus_per_task=slurm.cpus_per_task,
    )
    if not local:
        extra: dict[str, Any] = {"slurm_array_parallelism": slurm.array_parallelism}
        if slurm.partition:
            extra["slurm_partition"] = slurm.partition
        if slurm.mem_gb:
            extra["mem_gb"] = slurm.mem_gb
        executor.update_parameters(**extra)
    jobs = executor.map_array(
        _train_job,
        [c.to_dict() for c in pending],
        [str(runs_root)] * len(pending),
        [data_root] * len(pending),
        [device] * len(pending),
    )
    if not wait:
        print(f"submitted {len(jobs)} jobs ({jobs[0].job_id.split('_')[0]}); logs in {folder}")
        return []
    failures = []
    configs = {job.job_id: config for job, config in zip(jobs, pending)}
    for job in progress_bar(submitit.helpers.as_completed(jobs, poll_frequency=1 if local else 30),
                    total=len(jobs), desc="runs", unit="run", disable=not progress):
        try:
            job.result()
        except Exception as err:  # submitit wraps the job's exception with its remote traceback
            config = configs[job.job_id]
            last = [line for line in str(err).splitlines() if line.strip()]
            failures.append(_failure(config, f"{last[-1] if last else err} (log: {job.paths.stderr})"))
    return failures


def run_sweep(
    configs: Sequence[TrainConfig],
    *,
    executor: str = "local",
    workers: int | None = None,
    runs_root: str | Path | None = None,
    data_root: str | Path | None = None,
    device: str | None = None,
    slurm: SlurmOptions | None = None,
    wait: bool = True,
    progress: bool = True,
) -> list[Run]:
    """Train every config that is not finished yet.

    Args:
        executor: ``local`` (worker processes here), ``submitit-local`` (submitit's local
            executor: one process per run) or ``slurm`` (a submitit job array).
        workers: local worker processes; default one per CPU core on the CPU (two single-thread
            processes train ~35% faster than one two-thread process on small models) and one
            on a GPU.
        wait: for submitit, wait for the jobs (with a progress bar) instead of returning at once.

    Returns:
        The run folders of all configs. Raises :class:`SelrobError` naming the failed runs after
        the others have finished.
    """
    if executor not in EXECUTORS:
        raise SelrobError(f"unknown executor {executor!r}; choose one of: {', '.join(EXECUTORS)}")
    root = paths.runs_dir(runs_root)
    data = None if data_root is None else str(paths.data_dir(data_root))
    runs = [Run.for_config(c, root) for c in configs]
    # Longest runs first, so that workers finish together instead of one waiting on a long tail.
    pending = sorted((c for c, run in zip(configs, runs) if not run.is_finished()), key=relative_cost, reverse=True)
    if pending:
        if executor == "local":
            failures = _run_local(pending, workers or default_workers(len(pending), device), root, data, device, progress)
        else:
            cluster = "local" if executor == "submitit-local" else "slurm"
            failures = _run_submitit(pending, cluster, root, data, device, slurm or SlurmOptions(), wait, progress)
        if failures:
            raise SelrobError(f"{len(failures)} of {len(pending)} runs failed: " + "; ".join(failures))
    return runs
