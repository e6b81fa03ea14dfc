"""Jobs in worker processes, shared by sweeps and -C generation."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Any


def completed_in_processes(
    function: Callable[..., Any],
    arguments: Sequence[tuple[Any, ...]],
    workers: int,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
) -> Iterator[tuple[int, Future[Any]]]:
    """Run ``function(*args)`` for every ``args`` in ``workers`` spawned processes and yield
    ``(index, future)`` as each finishes.

    Spawned, not forked: a forked child of a process with threads (PyTorch's, OpenCV's) can
    deadlock. If the caller stops early (Ctrl-C, an error), pending jobs are cancelled instead of
    waited for; running ones finish writing atomically or leave nothing.
    """
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=initializer, initargs=initargs) as pool:
        futures = {pool.submit(function, *args): index for index, args in enumerate(arguments)}
        try:
            for future in as_completed(futures):
                yield futures[future], future
        except BaseException:  # includes GeneratorExit when the caller's loop is interrupted
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def set_torch_threads(threads: int) -> None:
    """Worker initializer: ``threads`` intra-op threads per process (workers x threads = cores)."""
    import torch

    torch.set_num_threads(threads)


def threads_per_worker(workers: int) -> int:
    """Cores shared evenly among ``workers`` processes (at least one thread each)."""
    import os

    return max(1, (os.cpu_count() or 1) // workers)
