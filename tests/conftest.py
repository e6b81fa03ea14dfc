"""Shared fixtures. Every test writes under a temporary SELROB_HOME, never into the checkout.

Only hooks and fixtures live here: the helpers that tests import are in tests/support/."""

from __future__ import annotations

import fcntl
import os
import shutil
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

from selrob.parallel import limit_threads
from support.frost import write_frost_photos
from support.studies import copied_study

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def isolated_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Point the runs, data, figures and outputs folders at a temporary home for the session."""
    home = tmp_path_factory.mktemp("selrob-home")
    for variable, name in (("SELROB_RUNS", "runs"), ("SELROB_DATA", "data"),
                           ("SELROB_FIGURES", "figures"), ("SELROB_OUTPUTS", "outputs")):
        os.environ[variable] = str(home / name)
    limit_threads(threads_per_test_process())
    return home


def threads_per_test_process() -> int:
    """Threads per test process: ``$SELROB_TEST_THREADS`` (the knife-edge guard's profile sets
    it), else one per pytest-xdist worker (`make test` runs two) and two in a single process. The
    processes a test starts (workers, notebook kernels, the CLI) inherit it."""
    value = os.environ.get("SELROB_TEST_THREADS") or ("1" if os.environ.get("PYTEST_XDIST_WORKER") else "2")
    if not value.isdigit() or int(value) < 1:
        raise pytest.UsageError(f"SELROB_TEST_THREADS must be a whole number of at least 1, got {value!r}")
    return int(value)


#: The fixtures that train the smoke studies (minutes, made once per test run). The fast tests (those
#: not marked slow: `make test-fast`, `make test-guard`) never build them, which two checks hold:
#: :func:`pytest_collection_modifyitems` marks slow every test that uses one, directly or through
#: the fixtures built on them (copied, evaluated), and each of them, as it is built, fails a test not
#: marked slow that builds it all the same (:func:`refuse_unless_slow`; by ``request.getfixturevalue``,
#: which no fixture closure shows).
TRAINED_FIXTURES = frozenset({"trained_smoke_runs", "trained_smoke_pairs"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark slow every test whose fixtures (their whole closure) include a trained one, so that
    ``-m "not slow"`` never trains the smoke studies."""
    for item in items:
        if TRAINED_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


#: The test whose setup, call or teardown runs now in this process (:func:`refuse_unless_slow`).
_running: pytest.Item | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    global _running
    _running = item


def refuse_unless_slow(fixture: str) -> None:
    """Fail the test that is about to build the trained ``fixture`` unless it is marked slow, before
    anything is trained. (A ``pytest_fixture_setup`` hook here would never see them: pytest sets up
    a session fixture through the session's hooks, which leave out conftest files below the rootdir.)"""
    if _running is not None and _running.get_closest_marker("slow") is None:
        pytest.fail(f"{_running.nodeid} builds the trained smoke studies ({fixture}) but is not marked slow: take "
                    "the fixture as an argument (tests/conftest.py then marks the test slow) or mark it "
                    "@pytest.mark.slow", pytrace=False)


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


def train_smoke_study(study: str, root: Path) -> None:
    """What ``selrob reproduce --smoke`` trains for ``study``, trained into ``root``: for
    ``selectivity`` 3 alphas x 2 seeds, 2 AugMix runs and 2 PGD-trained runs, 2 epochs on 256
    digits; for ``shape_bias`` a standard and a robust alexnet_small per smoke seed, 2 epochs on
    256 images of the shape-texture world."""
    from selrob.config import robust_pair_configs
    from selrob.pipeline.sweep import run_sweep
    from selrob.studies.selectivity import reproduce_configs

    configs = (reproduce_configs("digits", smoke=True) if study == "selectivity"
               else robust_pair_configs("shapes", smoke=True))
    run_sweep(configs, workers=1, runs_root=root, progress=False)


@pytest.fixture(scope="session")
def trained_smoke_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first study's smoke sweep (:func:`train_smoke_study`), trained once for all test
    processes; read only."""
    refuse_unless_slow("trained_smoke_runs")
    return made_once(tmp_path_factory, "trained-smoke-runs", lambda root: train_smoke_study("selectivity", root))


@pytest.fixture(scope="session")
def smoke_runs(trained_smoke_runs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This test process's copy of the smoke sweep, which its tests may evaluate into."""
    return copied_study(trained_smoke_runs, tmp_path_factory.mktemp("smoke-runs"))


@pytest.fixture(scope="session")
def trained_smoke_pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The second study's smoke pairs (:func:`train_smoke_study`), trained once for all test
    processes; read only."""
    refuse_unless_slow("trained_smoke_pairs")
    return made_once(tmp_path_factory, "trained-smoke-pairs", lambda root: train_smoke_study("shape_bias", root))


@pytest.fixture(scope="session")
def smoke_pairs(trained_smoke_pairs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This test process's copy of the smoke pairs, which its tests may evaluate into."""
    return copied_study(trained_smoke_pairs, tmp_path_factory.mktemp("smoke-pairs"))


def made_once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], object]) -> Path:
    """The folder ``name`` that ``make`` fills once per test run, shared by pytest-xdist's
    workers: the first to ask makes it under a file lock, the others wait and read it. If ``make``
    raises, the others fail at once with its traceback; a folder left by a process that died while
    making it is made again."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's folder, above each worker's own
    folder, done, failed = base / name, base / f"{name}.done", base / f"{name}.failed"
    with (base / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if failed.exists():
            raise RuntimeError(f"another test process failed to make {folder}:\n{failed.read_text()}")
        if not done.exists():
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir()
            try:
                make(folder)
            except Exception:
                failed.write_text(traceback.format_exc())
                raise
            done.touch()
    return folder


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


def evaluate_smoke_study(study: str, root: Path) -> None:
    """Fill every cache of ``study``'s smoke plan for the runs under ``root``, as ``make reproduce``
    leaves them."""
    from selrob.pipeline.reproduce import ReproduceOptions
    from selrob.pipeline.stage import evaluate_plan
    from selrob.studies import shape_bias, selectivity

    plan = {"selectivity": selectivity.plan, "shape_bias": shape_bias.plan}[study]
    evaluate_plan(plan(ReproduceOptions(smoke=True, runs_dir=root)), workers=2, progress=False)


@pytest.fixture(scope="session")
def evaluated_smoke_pairs(trained_smoke_pairs: Path, shapes_c: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke pairs with every cache of the study's plan filled, as ``make reproduce`` leaves
    them: notebook 09 shows every claim of the study, the explorer every panel. Made once for all
    test processes; read only (:func:`left_as_found`)."""
    return made_once(tmp_path_factory, "evaluated-smoke-pairs",
                     lambda root: evaluate_smoke_study("shape_bias", copied_study(trained_smoke_pairs, root)))


@pytest.fixture(scope="session")
def evaluated_smoke_runs(trained_smoke_runs: Path, digits_c: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke sweep with every cache of the first study's plan filled. Made once for all test
    processes; read only (:func:`left_as_found`)."""
    return made_once(tmp_path_factory, "evaluated-smoke-runs",
                     lambda root: evaluate_smoke_study("selectivity", copied_study(trained_smoke_runs, root)))


def evaluate_smoke_bridge(root: Path) -> None:
    """Train the bridge's smoke alpha sweep next to the smoke pairs in ``root`` (its alpha 0 runs are
    the pairs' standard models) and fill every cache of the bridge's smoke plan."""
    from selrob.config import bridge_sweep_configs
    from selrob.pipeline.reproduce import ReproduceOptions
    from selrob.pipeline.stage import evaluate_plan
    from selrob.pipeline.sweep import run_sweep
    from selrob.studies import bridge

    run_sweep(bridge_sweep_configs("shapes", smoke=True), workers=1, runs_root=root, progress=False)
    evaluate_plan(bridge.plan(ReproduceOptions(smoke=True, runs_dir=root)), workers=2, progress=False)


@pytest.fixture(scope="session")
def evaluated_smoke_bridge(evaluated_smoke_pairs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The evaluated smoke pairs with the bridge study's smoke alpha sweep trained and every cache
    of its plan filled, as ``make reproduce`` leaves them. Made once; read only."""
    def make(root: Path) -> None:
        shutil.copytree(evaluated_smoke_pairs, root, dirs_exist_ok=True)  # with the second study's caches
        evaluate_smoke_bridge(root)

    return made_once(tmp_path_factory, "evaluated-smoke-bridge", make)


@pytest.fixture(scope="session")
def explorer_runs(evaluated_smoke_runs: Path, evaluated_smoke_bridge: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One runs folder holding every evaluated smoke study (links to their dataset folders: the
    bridge's holds the second study's pairs too), as the explorer's notebook takes one ``runs_dir``."""
    root = tmp_path_factory.mktemp("explorer-runs")
    for study in (evaluated_smoke_runs, evaluated_smoke_bridge):
        for dataset in study.iterdir():
            (root / dataset.name).symlink_to(dataset, target_is_directory=True)
    return root
