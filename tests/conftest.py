"""Shared fixtures. Every test writes under a temporary SELROB_HOME, never into the checkout."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import torch

if TYPE_CHECKING:
    from selrob.store.runs import Run

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


def write_frost_photos(folder: Path) -> dict[str, str]:
    """Five stand-in frost photographs (smooth noise, PNG and JPEG as the real ones) in ``folder``;
    returns their SHA-256 sums by name."""
    import hashlib

    import numpy as np
    from PIL import Image
    from scipy import ndimage

    from selrob.corruptions.frost_photos import PHOTOS

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    sums = {}
    for name in PHOTOS:
        texture = ndimage.gaussian_filter(rng.uniform(0, 255, size=(240, 320, 3)), (3, 3, 0))
        Image.fromarray(texture.astype(np.uint8)).save(folder / name)
        sums[name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    return sums


@pytest.fixture(autouse=True, scope="session")
def stand_in_frost_photos(isolated_home: Path) -> dict[str, str]:
    """Tests never download: the frost corruption reads stand-in photographs whose checksums replace
    the published ones for the session (the real ones are fetched by ``make reproduce``)."""
    from selrob.corruptions import frost_photos

    sums = write_frost_photos(isolated_home / "data" / "frost")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(frost_photos, "PHOTOS", sums)
        frost_photos.frost_photos.cache_clear()
        yield sums
    frost_photos.frost_photos.cache_clear()


@pytest.fixture(scope="session")
def smoke_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``selrob reproduce --smoke`` trains (3 alphas x 2 seeds, 2 AugMix runs and 2 PGD-trained
    runs, 2 epochs on 256 digits), trained once."""
    from selrob.pipeline.sweep import run_sweep
    from selrob.studies.selectivity import reproduce_configs

    root = tmp_path_factory.mktemp("smoke-runs")
    run_sweep(reproduce_configs("digits", smoke=True), workers=1, runs_root=root, progress=False)
    return root


@pytest.fixture(scope="session")
def smoke_pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``selrob reproduce --study shape_bias --smoke`` trains: a standard and a robust
    alexnet_small per smoke seed, 2 epochs on 256 images of the shape-texture world."""
    from selrob.config import robust_pair_configs
    from selrob.pipeline.sweep import run_sweep

    root = tmp_path_factory.mktemp("smoke-pairs")
    run_sweep(robust_pair_configs("shapes", smoke=True), workers=1, runs_root=root, progress=False)
    return root


def copy_run(run: "Run", root: Path) -> "Run":
    """``run`` copied below ``root`` in the run folder layout, without its cached evaluations."""
    from selrob.store.runs import Run

    copy = Run(root / run.name)
    shutil.copytree(run.path, copy.path, ignore=shutil.ignore_patterns("evaluations"))
    return copy


#: The corruptions of the shapes-C set the tests generate (the reproduce makes all 15 common ones).
SHAPES_C = ["gaussian_noise", "contrast", "jpeg_compression"]


@pytest.fixture(scope="session")
def shapes_c() -> Path:
    """Three corruptions of the shape-texture world's generated -C set in the session's data
    folder (Table 3c of the second paper reads whatever the set holds)."""
    from selrob.corruptions.generate import make_corrupted_set

    return make_corrupted_set("shapes", corruptions=SHAPES_C, workers=1, progress=False)


@pytest.fixture(scope="session")
def digits_c(stand_in_frost_photos: dict[str, str]) -> Path:
    """The generated digits-C set in the session's data folder (in-process: the stand-in frost
    photographs are patched here only)."""
    from selrob.corruptions.generate import make_corrupted_set

    return make_corrupted_set("digits", workers=1, progress=False)


@pytest.fixture(scope="session")
def evaluated_smoke_pairs(smoke_pairs: Path, shapes_c: Path) -> Path:
    """The smoke pairs with every cache of the study's plan filled, as ``make reproduce`` leaves
    them: notebook 09 shows every claim of the study, the explorer every panel."""
    from selrob.pipeline.reproduce import ReproduceOptions
    from selrob.pipeline.stage import evaluate_plan
    from selrob.studies.shape_bias import plan

    evaluate_plan(plan(ReproduceOptions(smoke=True, runs_dir=smoke_pairs)), workers=2, progress=False)
    return smoke_pairs


@pytest.fixture(scope="session")
def evaluated_smoke_runs(smoke_runs: Path, digits_c: Path) -> Path:
    """The smoke sweep with every cache of the first study's plan filled."""
    from selrob.pipeline.reproduce import ReproduceOptions
    from selrob.pipeline.stage import evaluate_plan
    from selrob.studies.selectivity import plan

    evaluate_plan(plan(ReproduceOptions(smoke=True, runs_dir=smoke_runs)), workers=2, progress=False)
    return smoke_runs


@pytest.fixture(scope="session")
def explorer_runs(evaluated_smoke_runs: Path, evaluated_smoke_pairs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One runs folder holding both evaluated smoke studies (links to their dataset folders), as
    the explorer's notebook takes one ``runs_dir``."""
    root = tmp_path_factory.mktemp("explorer-runs")
    for study in (evaluated_smoke_runs, evaluated_smoke_pairs):
        for dataset in study.iterdir():
            (root / dataset.name).symlink_to(dataset, target_is_directory=True)
    return root
