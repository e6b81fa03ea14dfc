"""The evaluation registry: every cached evaluation is declared here once.

An :class:`Evaluation` names what it measures, how it computes (and caches) its result for one
model source, or for a group of pairs of sources, how that result becomes table rows, and which
other evaluations' caches it fills along the way. The evaluation stage
(:mod:`selrob.pipeline.stage`), the results tables (:mod:`selrob.tables.evaluations`) and
``selrob evaluate NAME`` are driven by this registry; adding an evaluation is one module that
calls :func:`register`.

Parameters shared by the evaluations (attack strengths, dimensionality thresholds, the corrupted
set, ...) travel in one :class:`EvaluationSettings`; :class:`EvaluationContext` resolves them for
one dataset (the dataset's attack preset, the corrupted set read once).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from selrob.attacks import AttackSettings, attack_settings
from selrob.data.cue_conflict_stimuli import DEFAULT_PREPROCESSING, check_preprocessing
from selrob.errors import SelrobError
from selrob.measures.representations import DimensionalitySettings
from selrob.store.sources import ModelSource


@dataclass(frozen=True)
class EvaluationSettings:
    """What evaluations depend on besides the model; ``None`` takes the dataset's preset.

    ``attack`` defaults to :func:`selrob.attacks.attack_settings` of the dataset (shrunk when
    ``smoke``); ``corruption_source`` is the -C set (``generated`` or ``official``; ``None``: the
    generated one, or the official one of a dataset without a generator, ImageNet-C) and
    ``corruptions`` a subset of it; ``unit_gradient_samples`` limits the input-unit gradients to
    the first test images; ``amp`` runs the attacks under bf16 autocast (CUDA). ``progress``
    shows bars inside a source's evaluation. ``cue_conflict_preprocessing`` is how Geirhos et
    al.'s stimuli reach ImageNet models (:data:`selrob.data.cue_conflict_stimuli.PREPROCESSING`):
    ``resize-crop`` by default, as the paper's repository does.
    """

    attack: AttackSettings | None = None
    dimensionality: DimensionalitySettings = DimensionalitySettings()
    corruption_source: str | None = None
    corruptions: Sequence[str] | None = None
    unit_gradient_samples: int | None = None
    amp: bool = False
    smoke: bool = False
    data_root: str | None = None
    device: str | None = None
    progress: bool = False
    cue_conflict_preprocessing: str = DEFAULT_PREPROCESSING

    def command_flags(self) -> str:
        """The ``selrob evaluate`` flags that give these settings (attack settings and
        dimensionality thresholds other than the presets are notebook parameters only)."""
        flags = " --smoke" if self.smoke else ""
        if self.corruption_source is not None:
            flags += f" --source {self.corruption_source}"
        if self.corruptions is not None:
            flags += " --corruptions " + " ".join(self.corruptions)
        if self.unit_gradient_samples is not None:
            flags += f" --samples {self.unit_gradient_samples}"
        if self.cue_conflict_preprocessing != DEFAULT_PREPROCESSING:
            flags += f" --cue-conflict-preprocessing {self.cue_conflict_preprocessing}"
        if self.data_root is not None:
            flags += f" --data-dir {self.data_root}"
        return flags

    def __post_init__(self) -> None:
        if self.corruptions is not None:  # a tuple, so that settings hash and compare by value
            object.__setattr__(self, "corruptions", tuple(self.corruptions))
        if self.unit_gradient_samples is not None and self.unit_gradient_samples < 2:
            raise SelrobError(f"unit-gradient statistics need at least 2 samples, got {self.unit_gradient_samples}")
        check_preprocessing(self.cue_conflict_preprocessing)


class EvaluationContext:
    """:class:`EvaluationSettings` resolved for one dataset; data sets are read once per context."""

    def __init__(self, dataset: str, settings: EvaluationSettings) -> None:
        self.dataset = dataset
        self.settings = settings

    @functools.cached_property
    def attack(self) -> AttackSettings:
        given = self.settings.attack
        return given if given is not None else attack_settings(self.dataset, smoke=self.settings.smoke)

    @functools.cached_property
    def corrupted(self) -> Any:
        """The :class:`~selrob.data.corrupted.CorruptedSet` of ``settings.corruption_source``."""
        from selrob.data.corrupted import CorruptedSet, default_source

        source = self.settings.corruption_source or default_source(self.dataset)
        return CorruptedSet(self.dataset, source, self.settings.data_root)

    @functools.cached_property
    def natural(self) -> Any:
        """The :class:`~selrob.data.imagenet_a.NaturalAdversarialSet` (ImageNet-A's shared classes)."""
        from selrob import paths
        from selrob.data.imagenet_a import load_natural_adversarial

        if self.dataset != "tinyimagenet":
            raise SelrobError("ImageNet-A shares classes with Tiny ImageNet only; use tinyimagenet runs")
        return load_natural_adversarial(paths.data_dir(self.settings.data_root), self.settings.progress)

    @property
    def data_root(self) -> str | None:
        return self.settings.data_root

    @property
    def device(self) -> str | None:
        return self.settings.device


@dataclass(frozen=True)
class Pairing:
    """One ``target`` evaluated with something made on ``source`` (e.g. its adversarial examples)."""

    source: ModelSource
    target: ModelSource
    relation: str


def _all_rows(table: pd.DataFrame) -> pd.DataFrame:
    return table


@dataclass(frozen=True)
class Evaluation:
    """One cached evaluation.

    * ``evaluate(source, context)`` returns the (cached) result for one source; for a pairwise
      evaluation (one with a ``pairings`` rule) ``evaluate(pairings, context)`` returns one
      result per pairing (pairings sharing a source are evaluated together).
    * ``rows(result, context)`` (``rows(result, context, pairing)`` when pairwise) yields the
      table rows without the source's identity keys, with the keys of ``columns``.
    * ``is_cached(source, context)`` (``is_cached(pairing, context)``) tells without computing.
    * ``fills``: the evaluations whose caches this one also writes, from the same pass; the
      stage runs it before them.
    * ``value`` and ``headline``: the column ``selrob evaluate`` summarises per source, averaged
      over the rows ``headline(table)`` keeps (e.g. PGD's last step), described by ``headline_label``.
    * ``pairings(targets, sources)``: for pairwise evaluations, how pairs are formed.

    Register an evaluation at import time of a module (:func:`register`): worker processes of
    the stage import the module of ``evaluate`` before they look the evaluation up.
    """

    name: str
    description: str
    columns: tuple[str, ...]
    value: str
    evaluate: Callable[..., Any]
    rows: Callable[..., Iterable[dict[str, Any]]]
    is_cached: Callable[..., bool]
    fills: tuple[str, ...] = ()
    pairings: Callable[[Sequence[ModelSource], Sequence[ModelSource]], list[Pairing]] | None = None
    headline: Callable[[pd.DataFrame], pd.DataFrame] = _all_rows
    headline_label: str = "mean over rows"

    @property
    def pairwise(self) -> bool:
        return self.pairings is not None


#: Every registered evaluation by name, in registration (import) order, which only breaks ties
#: of :func:`evaluation_order`.
EVALUATIONS: dict[str, Evaluation] = {}


def register(evaluation: Evaluation) -> Evaluation:
    """Add ``evaluation`` to the registry (its name must be new)."""
    if evaluation.name in EVALUATIONS:
        raise SelrobError(f"an evaluation named {evaluation.name!r} is registered already")
    EVALUATIONS[evaluation.name] = evaluation
    return evaluation


def registered_evaluations() -> dict[str, Evaluation]:
    """The registry, with the project's own evaluations registered (importing their modules)."""
    import selrob.evaluations  # noqa: F401

    return EVALUATIONS


def get_evaluation(name: str) -> Evaluation:
    """The registered evaluation ``name``, or a one-line error listing the names."""
    known = registered_evaluations()
    if name not in known:
        raise SelrobError(f"unknown evaluation {name!r}; choose one of: {', '.join(known)}")
    return known[name]


def evaluation_order(names: Iterable[str]) -> list[str]:
    """``names`` ordered so that an evaluation comes before every evaluation whose cache it fills
    (a topological order of the declared ``fills``; otherwise registration order)."""
    chosen = [get_evaluation(name).name for name in dict.fromkeys(names)]
    registered = list(EVALUATIONS)
    chosen.sort(key=registered.index)
    before = {name: {other for other in chosen if name in EVALUATIONS[other].fills} for name in chosen}
    ordered: list[str] = []
    while len(ordered) < len(chosen):
        ready = [name for name in chosen if name not in ordered and before[name] <= set(ordered)]
        if not ready:
            cycle = [name for name in chosen if name not in ordered]
            raise SelrobError(f"evaluations fill each other's caches in a cycle: {', '.join(cycle)}")
        ordered.append(ready[0])
    return ordered

