"""Wall-clock timing shared by the benchmark scripts (run as ``python benchmarks/<name>.py``)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import torch


def timed(fn: Callable[[], Any], device: torch.device) -> tuple[float, Any]:
    """``(seconds, fn())``, with the device's queued work finished before and after."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    value = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started, value


def load_report(before: tuple[float, float, float], cores: int) -> dict[str, Any]:
    """The 1-minute load average before (``before``, from ``os.getloadavg()``) and after a run,
    with a note when other jobs were loading the machine."""
    after = os.getloadavg()
    report: dict[str, Any] = {"loadavg_before": list(before), "loadavg_after": list(after), "cpu_count": cores}
    if before[0] >= 0.5:
        report["note"] = (f"the machine was loaded by other (background) jobs: 1-minute load average {before[0]:.2f} "
                          f"on {cores} cores before the run, {after[0]:.2f} after it; CPU timings are slower "
                          "than on an idle machine")
    return report
