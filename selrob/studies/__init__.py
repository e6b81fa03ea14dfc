"""Studies: each paper's models, evaluation plan, notebooks and summary, run by
:mod:`selrob.pipeline.reproduce` (``selrob reproduce --study NAME``).

A :class:`Study` is data plus four steps: ``prepare`` (train its models and make its data),
``plan`` (the :class:`~selrob.pipeline.stage.EvaluationPlan` its notebooks read),
``notebook_parameters`` (what every notebook of the study is run with) and ``summary`` (lines
printed at the end).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selrob.errors import SelrobError
from selrob.pipeline.stage import EvaluationPlan


@dataclass(frozen=True)
class ReproduceOptions:
    """The folders, device and workers of one ``selrob reproduce``; ``smoke`` shrinks every study."""

    smoke: bool = False
    workers: int | None = None
    runs_dir: Path | None = None
    data_dir: Path | None = None
    figures_dir: Path | None = None
    outputs_dir: Path | None = None
    device: str | None = None


@dataclass(frozen=True)
class StudyNotebook:
    """One numbered notebook of a study and the parameters it must declare."""

    stem: str
    parameters: frozenset[str]


@dataclass(frozen=True)
class Study:
    name: str
    title: str
    notebooks: tuple[StudyNotebook, ...]
    prepare: Callable[[ReproduceOptions], None]
    plan: Callable[[ReproduceOptions], EvaluationPlan]
    notebook_parameters: Callable[[ReproduceOptions], dict[str, Any]]
    summary: Callable[[ReproduceOptions], str]


def studies() -> dict[str, Study]:
    """Every study by name, in reproduce order."""
    from selrob.studies.selectivity import SELECTIVITY

    return {study.name: study for study in (SELECTIVITY,)}


def select_studies(name: str) -> list[Study]:
    """The study ``name``, or every study for ``all``."""
    known = studies()
    if name == "all":
        return list(known.values())
    if name not in known:
        raise SelrobError(f"unknown study {name!r}; choose all or one of: {', '.join(known)}")
    return [known[name]]
