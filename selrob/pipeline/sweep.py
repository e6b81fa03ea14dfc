"""Alpha x seed sweeps: locally in worker processes, or on Slurm (or locally) through submitit.

Every job calls :func:`selrob.training.loop.train_runs` on one or several runs, which skips
finished runs and resumes interrupted ones, so re-submitting a sweep only does the missing work.
Runs that share dataset, architecture and protocol can train together as one network
(:mod:`selrob.models.stacked`): on a GPU, where one small model leaves the device mostly idle, and
on the CPU for small images, where per-call overhead is a large share of a step. Digits' 8x8 on
one core gives 1.1-1.3x the images per second at 2-8 models; the whole digits sweep on 2 cores was
1.15x faster on an Intel Xeon and is about even (0.99x) on an AMD EPYC since models run
channels-last. At 32x32 on the CPU the grouped convolutions are slower than a model's own (0.6x at
4 models), so those runs go one per process unless asked (``benchmarks/sweep_throughput.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from selrob.progress import progress_bar

from selrob import paths
from selrob.data import dataset_info
from selrob.device import resolve_device
from selrob.errors import SelrobError
from selrob.models import build_model
from selrob.models.stacked import stackable
from selrob.parallel import default_workers, job_errors
from selrob.store.runs import Run
from selrob.config import TrainConfig
from selrob.training.loop import train_runs

EXECUTORS = ("local", "submitit-local", "slurm")

#: Most runs trained as one network by default (``--max-together``).
MAX_TOGETHER = 16
#: Largest image side at which runs train together on the CPU by default (see the module docstring).
CPU_TOGETHER_MAX_SIDE = 16
#: Most input pixels (images x height x width) in one training step of a stack: 16 CIFAR-10
#: ResNet20s at batch 256, a few GB of activations (``benchmarks/sweep_throughput.py`` reports
#: the peak memory). One Tiny ImageNet ResNet18 step (4,096 images of 64 x 64, about 17 GB of
#: float32 activations) is four times this and keeps a GPU busy alone: those runs go one per job.
MAX_STACK_PIXELS = 16 * 256 * 32 * 32


def stack_size(config: TrainConfig, max_together: int) -> int:
    """Most runs of ``config``'s protocol trained as one network: ``max_together``, fewer where
    their steps' images (AugMix's three views of each) would exceed :data:`MAX_STACK_PIXELS`."""
    side = dataset_info(config.dataset).image_size
    pixels = config.batch_size * (3 if config.augmix else 1) * side * side
    return max(1, min(max_together, MAX_STACK_PIXELS // pixels))


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


def _failure(configs: Sequence[TrainConfig], reason: object) -> str:
    runs = ", ".join(f"alpha={c.alpha:g} seed={c.seed}" for c in configs)
    return f"{runs}: {reason}"


def _train_job(configs: list[dict[str, Any]], runs_root: str, data_root: str | None, device: str | None,
               progress: bool = False) -> str:
    """One job's runs (trained together when several); plain arguments, so that it pickles into
    worker processes."""
    runs = train_runs([TrainConfig.from_dict(c) for c in configs], runs_root, data_root, device, progress=progress)
    return ", ".join(str(run.path) for run in runs)


def _stackable_arch(config: TrainConfig) -> bool:
    info = dataset_info(config.dataset)
    return stackable(build_model(config.arch, num_classes=info.num_classes, in_channels=info.in_channels,
                                 mean=info.mean, std=info.std))


def plan_jobs(pending: Sequence[TrainConfig], together: bool, max_together: int, parts: int = 1,
              min_together: int = 1) -> list[list[TrainConfig]]:
    """The jobs of a sweep: one run each, or (``together``) the runs of each dataset, architecture
    and protocol in groups of at most :func:`stack_size` runs, split into up to ``parts`` groups
    (one per worker process) of at least ``min_together`` runs where there are runs enough, longest
    first."""
    if not together:
        jobs = [[config] for config in pending]
    else:
        groups: dict[tuple[str, str, str], list[TrainConfig]] = {}
        for config in pending:
            groups.setdefault((config.dataset, config.arch, config.protocol_key()), []).append(config)
        jobs = []
        for configs in groups.values():
            if len(configs) > 1 and not _stackable_arch(configs[0]):
                jobs += [[config] for config in configs]
                continue
            count = max(math.ceil(len(configs) / stack_size(configs[0], max_together)),
                        min(parts, len(configs) // min_together), 1)
            size, larger = divmod(len(configs), count)  # sizes differ by one run at most
            starts = [index * size + min(index, larger) for index in range(count + 1)]
            jobs += [configs[start:end] for start, end in zip(starts, starts[1:])]
    # Longest first, so that workers finish together instead of one waiting on a long tail.
    return sorted(jobs, key=lambda job: sum(relative_cost(c) for c in job), reverse=True)


def _run_local(
    jobs: list[list[TrainConfig]], workers: int, runs_root: Path, data_root: str | None, device: str | None,
    progress: bool,
) -> list[str]:
    failures: list[str] = []
    # Shown after a second: a sweep whose jobs fail at once (missing data) prints its error line alone.
    bar = progress_bar(total=sum(len(job) for job in jobs), desc="runs", unit="run", disable=not progress, delay=1)
    # Epoch bars only when jobs go one at a time in this process.
    arguments = [([c.to_dict() for c in job], str(runs_root), data_root, device, progress and workers == 1)
                 for job in jobs]
    for index, error in job_errors(_train_job, arguments, workers):
        if error is not None:
            failures.append(_failure(jobs[index], error))
        bar.update(len(jobs[index]))
    bar.close()
    return failures


def _run_submitit(
    jobs: list[list[TrainConfig]],
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
    submitted = executor.map_array(
        _train_job,
        [[c.to_dict() for c in job] for job in jobs],
        [str(runs_root)] * len(jobs),
        [data_root] * len(jobs),
        [device] * len(jobs),
    )
    if not wait:
        print(f"submitted {len(submitted)} jobs ({submitted[0].job_id.split('_')[0]}); logs in {folder}")
        return []
    failures = []
    configs = {job.job_id: configs for job, configs in zip(submitted, jobs)}
    for job in progress_bar(submitit.helpers.as_completed(submitted, poll_frequency=1 if local else 30),
                    total=len(submitted), desc="jobs", unit="job", disable=not progress):
        try:
            job.result()
        except Exception as err:  # submitit wraps the job's exception with its remote traceback
            last = [line for line in str(err).splitlines() if line.strip()]
            failures.append(_failure(configs[job.job_id], f"{last[-1] if last else err} (log: {job.paths.stderr})"))
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
    together: bool | None = None,
    max_together: int = MAX_TOGETHER,
) -> list[Run]:
    """Train every config that is not finished yet.

    Args:
        executor: ``local`` (worker processes here), ``submitit-local`` (submitit's local
            executor: one process per run) or ``slurm`` (a submitit job array).
        workers: local worker processes; default one per CPU core on the CPU (two single-thread
            processes train ~35% faster than one two-thread process on small models) and one
            on a GPU.
        wait: for submitit, wait for the jobs (with a progress bar) instead of returning at once.
        together: train the runs of one dataset, architecture and protocol together as one network
            (at most ``max_together`` at a time, fewer where their images would not fit
            :data:`MAX_STACK_PIXELS`; on the CPU in as many groups as worker processes, as
            long as each keeps two runs or more); ``None``: where it is faster, on a GPU and on
            the CPU for images of at most :data:`CPU_TOGETHER_MAX_SIDE` pixels (split between
            the worker processes down to one run each).

    Returns:
        The run folders of all configs. Raises :class:`SelrobError` naming the failed runs after
        the others have finished.
    """
    if executor not in EXECUTORS:
        raise SelrobError(f"unknown executor {executor!r}; choose one of: {', '.join(EXECUTORS)}")
    if max_together < 1:
        raise SelrobError(f"max_together must be at least 1, got {max_together}")
    if workers is not None and workers < 1:
        raise SelrobError(f"workers must be at least 1, got {workers}")
    root = paths.runs_dir(runs_root)
    data = None if data_root is None else str(paths.data_dir(data_root))
    runs = [Run.for_config(c, root) for c in configs]
    pending = [c for c, run in zip(configs, runs) if not run.is_finished()]
    if pending:
        on_gpu = executor == "slurm" or resolve_device(device).type == "cuda"
        small = all(dataset_info(c.dataset).image_size <= CPU_TOGETHER_MAX_SIDE for c in pending)
        stack = (on_gpu or small) if together is None else together
        parts = 1 if on_gpu or executor != "local" else (workers or default_workers(len(pending), device))
        # Asked to train together, a network holds two runs at least; where faster, the CPU's
        # worker processes come first.
        jobs = plan_jobs(pending, stack, max_together, parts, min_together=2 if together else 1)
        if executor == "local":
            failures = _run_local(jobs, workers or default_workers(len(jobs), device), root, data, device, progress)
        else:
            cluster = "local" if executor == "submitit-local" else "slurm"
            failures = _run_submitit(jobs, cluster, root, data, device, slurm or SlurmOptions(), wait, progress)
        if failures:
            raise SelrobError(f"{len(failures)} of {len(jobs)} training jobs failed: " + "; ".join(failures))
    return runs
