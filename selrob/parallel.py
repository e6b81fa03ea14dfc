"""Jobs in worker processes, shared by sweeps, -C generation and the evaluation stage."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Any

from selrob.errors import SelrobError


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
    deadlock. On Ctrl-C, which the terminal sends to every process of the group, workers stop
    quietly and only the caller reports it. If the caller stops early (Ctrl-C, an error), pending
    jobs are cancelled; every file is written atomically, so a stopped job leaves nothing
    half-written and resumes when run again.
    """
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_start_worker,
                             initargs=(initializer, initargs)) as pool:
        try:
            # The first submissions spawn the workers, which inherit the signal mask: a Ctrl-C or
            # SIGTERM while they import stays pending until their handler is installed
            # (_start_worker), and reaches this process when the mask is restored.
            mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
            try:
                futures = {pool.submit(_unless_stopping, function, *args): index for index, args in enumerate(arguments)}
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            for future in as_completed(futures):
                # A worker stopped by Ctrl-C or SIGTERM (SystemExit) can report before the caller's
                # own handler raises: it is the same interruption.
                if not future.cancelled() and isinstance(stopped := future.exception(), SystemExit):
                    raise Terminated if stopped.code == 128 + signal.SIGTERM else KeyboardInterrupt
                yield futures[future], future
        except BaseException:  # includes GeneratorExit when the caller's loop is interrupted
            pool.shutdown(wait=False, cancel_futures=True)
            raise


#: What stops a command and its workers: Ctrl-C, and SIGTERM (Slurm's scancel and time limit,
#: `timeout`, `kill`), which is handled the same way (:func:`stop_on_sigterm`).
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


class Terminated(KeyboardInterrupt):
    """SIGTERM in the calling process, raised where Ctrl-C raises :class:`KeyboardInterrupt`."""


def stop_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM handler of a command: stop as Ctrl-C stops (finished work kept, workers quiet).

    The signal is passed on to the worker processes: sent to the process group (Slurm, `timeout`)
    it reaches them anyway, a second one changes nothing; sent to this process alone (`kill PID`,
    `docker stop`) it would not, and the command would wait for their running jobs.
    """
    for child in multiprocessing.active_children():
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGTERM)
    raise Terminated


#: The signal that is stopping this worker (0: none).
_stopping = 0
_in_job = False


def _stop(signum: int, frame: object) -> None:
    """Ctrl-C or SIGTERM in a worker: stop the running job (its files are written atomically);
    outside a job only remember it, so that the executor's own queue handling is never
    interrupted. A second signal changes nothing: the job is unwinding already."""
    global _stopping
    if _stopping:
        return
    _stopping = signum
    if _in_job:
        raise SystemExit(128 + signum)


def _unless_stopping(function: Callable[..., Any], *args: Any) -> Any:
    """Run a job, unless Ctrl-C or SIGTERM came: the executor catches SystemExit and would start
    the jobs already queued for this worker."""
    global _in_job
    if _stopping:
        raise SystemExit(128 + _stopping)
    _in_job = True
    try:
        return function(*args)
    finally:
        _in_job = False


def _exit_with_parent(parent: int) -> None:
    """A worker whose caller was killed (SIGKILL) would go on working as an orphan; it exits
    instead (its files are written atomically)."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(1)


def _start_worker(initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
    # Ctrl-C and SIGTERM reach the workers too (the terminal, Slurm and `timeout` signal every
    # process): they stop without a traceback and leave the message to the caller.
    for number in STOP_SIGNALS:
        signal.signal(number, _stop)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    if initializer is not None:
        initializer(*initargs)


#: The variables BLAS, OpenMP and MKL read when a process starts.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def limit_threads(threads: int) -> None:
    """Compute on ``threads`` threads in this process (PyTorch's intra-op pool, and BLAS and
    OpenMP through threadpoolctl), and let the processes it starts later do the same.

    Also the worker initializer (workers x threads = cores). The thread count is part of what a
    floating-point result is: it changes how products and sums are split.
    """
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(limits=threads)
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(threads)


def threads_per_worker(workers: int) -> int:
    """Cores shared evenly among ``workers`` processes (at least one thread each)."""
    return max(1, (os.cpu_count() or 1) // workers)


def default_workers(jobs: int, device: str | None) -> int:
    """One process on a GPU; on the CPU one per core (two single-thread processes beat one
    two-thread process on these small models), never more than there are jobs."""
    import torch

    if torch.cuda.is_available() and device != "cpu":
        return 1
    return max(1, min(jobs, os.cpu_count() or 1))


def job_errors(
    function: Callable[..., Any], arguments: Sequence[tuple[Any, ...]], workers: int
) -> Iterator[tuple[int, SelrobError | None]]:
    """Run ``function(*args)`` for every ``args`` (in this process with one worker, else in
    ``workers`` spawned processes sharing the cores) and yield ``(index, error)`` as each job
    finishes: the :class:`SelrobError` it raised, or ``None``. Other exceptions propagate."""
    if workers <= 1:
        for index, args in enumerate(arguments):
            try:
                function(*args)
            except SelrobError as err:
                yield index, err
            else:
                yield index, None
        return
    initargs = (threads_per_worker(workers),)
    for index, future in completed_in_processes(function, arguments, workers, limit_threads, initargs):
        try:
            future.result()
        except SelrobError as err:
            yield index, err
        else:
            yield index, None
