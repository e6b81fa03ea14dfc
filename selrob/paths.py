"""Where selrob keeps data, runs, figures and executed notebooks.

Everything resolves from the repository root (the checkout that holds this package) or from an
environment variable, never from the working directory: papermill starts kernels in the caller's
folder and JupyterLab in the notebook's, and both must find the same runs.

=================  ======================  =========================
variable           default                 holds
=================  ======================  =========================
``SELROB_HOME``    the repository root     the defaults below
``SELROB_DATA``    ``$SELROB_HOME/data``   datasets (downloads, -C sets)
``SELROB_RUNS``    ``$SELROB_HOME/runs``   trained runs and their cached evaluations
``SELROB_FIGURES`` ``$SELROB_HOME/figures`` figures written by the notebooks
``SELROB_OUTPUTS`` ``$SELROB_HOME/outputs`` executed notebooks
=================  ======================  =========================
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def repo_root() -> Path:
    """The checkout holding this package, or ``$SELROB_HOME``, or ``~/.selrob`` for a wheel install."""
    env = os.environ.get("SELROB_HOME")
    if env:
        return Path(env).expanduser().resolve()
    checkout = PACKAGE_DIR.parent
    if (checkout / "pyproject.toml").is_file():
        return checkout
    return Path.home() / ".selrob"


def _resolve(variable: str, default_name: str, override: str | os.PathLike[str] | None) -> Path:
    """An explicit path wins, then the environment variable, then ``<root>/<default_name>``.

    Relative paths are taken relative to the repository root, so a notebook parameter means the
    same folder whichever directory the kernel runs in.
    """
    chosen = override if override is not None else os.environ.get(variable)
    if chosen is None or str(chosen) == "":
        return repo_root() / default_name
    path = Path(chosen).expanduser()
    return (path if path.is_absolute() else repo_root() / path).resolve()


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Folder of datasets."""
    return _resolve("SELROB_DATA", "data", override)


def runs_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Folder of trained runs (the result cache)."""
    return _resolve("SELROB_RUNS", "runs", override)


def figures_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Folder the notebooks save figures to."""
    return _resolve("SELROB_FIGURES", "figures", override)


def outputs_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Folder of executed notebooks."""
    return _resolve("SELROB_OUTPUTS", "outputs", override)


def notebooks_dir() -> Path:
    """The numbered notebooks shipped in the checkout."""
    return repo_root() / "notebooks"
