"""Redraw time of the explorer (notebook 00) on cached results: how long one change of a control
takes, from the new value to every panel depending on it recomputed and rendered to PNG.

    python benchmarks/explorer_redraw.py [--runs-dir DIR] [--smoke] [--repeats 5]

Builds :class:`selrob.explorer.Explorer` on the runs (default: the project's, as ``make
reproduce`` leaves them), then for each study changes each control to each of up to
``--repeats`` other values in turn and times the change (observers run synchronously, so the time
is the whole redraw, the figures rendered as the notebook shows them). Opening a study or group
(reading its tables once) is timed apart. Writes
``benchmarks/results/explorer_redraw_<device>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from selrob.device import device_description
from selrob.explorer import Explorer
from selrob.explorer.app import STUDY_VIEWS
from selrob.io import write_json
from timing import load_report

RESULTS = Path(__file__).resolve().parent / "results"


def _values(explorer: Explorer, name: str, repeats: int) -> list[Any]:
    """Up to ``repeats`` values of control ``name`` other than its current one, spread over its options."""
    control = explorer.controls[name]
    values = [o[1] if isinstance(o, tuple) else o for o in control.options]
    others = [v for v in values if v != control.value]
    step = max(1, len(others) // repeats)
    return others[::step][:repeats]


def time_study(explorer: Explorer, study: str, repeats: int) -> dict[str, Any]:
    """Seconds to open ``study`` and, per control, of each change (outside a notebook the
    panels' ``display`` prints each object's repr: kept off the console)."""
    with contextlib.redirect_stdout(io.StringIO()):
        return _time_study(explorer, study, repeats)


def _time_study(explorer: Explorer, study: str, repeats: int) -> dict[str, Any]:
    started = time.perf_counter()
    explorer.controls["study"].value = study
    report: dict[str, Any] = {"open_seconds": time.perf_counter() - started, "controls": {}}
    for name in STUDY_VIEWS[study].controls:
        seconds = []
        for value in _values(explorer, name, repeats):
            started = time.perf_counter()
            explorer.controls[name].value = value
            seconds.append(time.perf_counter() - started)
        if seconds:
            report["controls"][name] = {"changes": len(seconds), "median_seconds": statistics.median(seconds),
                                        "max_seconds": max(seconds)}
    report["errors"] = dict(explorer.errors)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", default=None, help="runs folder (default: $SELROB_RUNS or <repo>/runs)")
    parser.add_argument("--smoke", action="store_true", help="the smoke pairs")
    parser.add_argument("--repeats", type=int, default=5, help="changes per control")
    args = parser.parse_args()
    load_before = os.getloadavg()
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        explorer = Explorer(runs_dir=args.runs_dir, smoke=args.smoke)
    report: dict[str, Any] = {"benchmark": "explorer_redraw", "device": device_description(torch.device("cpu")),
                              "threads": torch.get_num_threads(), "build_seconds": time.perf_counter() - started,
                              "studies": {}}
    for study in explorer.studies:
        report["studies"][study] = result = time_study(explorer, study, args.repeats)
        print(f"{study}: opened in {result['open_seconds']:.2f} s", flush=True)
        for name, timing in result["controls"].items():
            print(f"  {name}: median {timing['median_seconds']:.3f} s, max {timing['max_seconds']:.3f} s "
                  f"over {timing['changes']} changes", flush=True)
    report["load"] = load_report(load_before, os.cpu_count() or 1)
    path = RESULTS / "explorer_redraw_cpu.json"
    write_json(path, report)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
