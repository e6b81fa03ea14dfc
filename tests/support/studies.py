"""Copies of the smoke studies' run folders (tests/conftest.py trains them once per test run), and
a guard that a test leaves a shared one as it found it."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from selrob.store.runs import Run


def copied_study(source: Path, root: Path) -> Path:
    """The runs under ``source`` copied to ``root``, without their cached evaluations."""
    shutil.copytree(source, root, ignore=shutil.ignore_patterns("evaluations"), dirs_exist_ok=True)
    return root


def copy_run(run: "Run", root: Path) -> "Run":
    """``run`` copied below ``root`` in the run folder layout, without its cached evaluations."""
    from selrob.store.runs import Run

    copy = Run(root / run.name)
    shutil.copytree(run.path, copy.path, ignore=shutil.ignore_patterns("evaluations"))
    return copy


@contextlib.contextmanager
def left_as_found(folder: Path) -> Iterator[None]:
    """Fails unless the block leaves ``folder`` (one of the studies shared by the test processes)
    as it found it: no file added, removed or rewritten."""

    def files() -> dict[str, tuple[int, int]]:
        return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
                for p in folder.rglob("*") if p.is_file()}

    before = files()
    yield
    after = files()
    assert after == before, f"written under {folder}: {sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))}"
