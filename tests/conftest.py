"""Shared fixtures. Every test writes under a temporary SELROB_HOME, never into the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def isolated_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Point the runs, data, figures and outputs folders at a temporary home for the session."""
    home = tmp_path_factory.mktemp("selrob-home")
    for variable, name in (("SELROB_RUNS", "runs"), ("SELROB_DATA", "data"),
                           ("SELROB_FIGURES", "figures"), ("SELROB_OUTPUTS", "outputs")):
        os.environ[variable] = str(home / name)
    torch.set_num_threads(2)
    return home


@pytest.fixture(scope="session")
def smoke_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke sweep on digits (3 alphas x 2 seeds, 2 epochs on 256 images), trained once."""
    from selrob.sweep import run_sweep, sweep_configs

    root = tmp_path_factory.mktemp("smoke-runs")
    run_sweep(sweep_configs("digits", smoke=True), workers=1, runs_root=root, progress=False)
    return root
