"""The evaluation registry: every cached evaluation is declared here once.

An :class:`Evaluation` names what it measures, how it computes (and caches) its result for one
model source, or for a group of pairs of sources, how that result becomes table rows, and which
other evaluations' caches it fills along the way. The evaluation stage
(:mod:`selrob.pipeline.stage`), the results tables (:mod:`selrob.tables.evaluations`) and
``selrob evaluate NAME`` are driven by this registry; adding an evaluation is one module that
calls :func:`register`.

What every evaluation shares (device, data root, smoke, amp, progress) travels in one
:class:`EvaluationSettings`, beside the values of the :class:`ParameterGroup` s that evaluations own
(an attack, dimensionality thresholds, the -C set, ...: each declared by the module of the
evaluations that read it, with its ``selrob evaluate`` flags); :class:`EvaluationContext` resolves
them for one dataset (a dataset's preset where none is given) and reads data sets once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pandas as pd

from selrob.errors import SelrobError
from selrob.store.sources import ModelSource


@dataclass(frozen=True)
class ParameterGroup:
    """Parameters some evaluations own besides the shared settings (an attack, the -C set, ...):
    ``name`` keys them in :attr:`EvaluationSettings.parameters`; ``default(dataset, smoke)`` is
    the value when none is given (a dataset's preset); ``add_flags`` adds its ``selrob evaluate``
    flags, ``from_flags`` reads them back (``None``: none given) and ``flags_of`` writes a value
    as flags (``""`` where only a notebook parameter can give it) and ``check`` refuses a bad value
    in one line when settings are made. Declared by the module of the evaluations that read them,
    registered with :func:`register_parameters`."""

    name: str
    default: Callable[[str, bool], Any]
    add_flags: Callable[[Any], None] = lambda parser: None
    from_flags: Callable[[Any], Any] = lambda args: None
    flags_of: Callable[[Any], str] = lambda value: ""
    check: Callable[[Any], None] = lambda value: None


def of_type(kind: type, name: str) -> Callable[[Any], None]:
    """A :attr:`ParameterGroup.check` refusing values that are not ``kind`` (named ``name``)."""

    def check(value: Any) -> None:
        if not isinstance(value, kind):
            raise SelrobError(f"the {name} parameter must be {kind.__name__}, got {value!r}")

    return check


#: Every registered parameter group by name.
PARAMETER_GROUPS: dict[str, ParameterGroup] = {}
T = TypeVar("T", "ParameterGroup", "Evaluation")


def _added(registry: dict[str, T], item: T, kind: str) -> T:
    """``item`` added to ``registry`` under its name, which must be new."""
    if item.name in registry:
        raise SelrobError(f"{kind} named {item.name!r} is registered already")
    registry[item.name] = item
    return item


def register_parameters(group: ParameterGroup) -> ParameterGroup:
    """Add ``group`` to the parameter groups (its name must be new)."""
    return _added(PARAMETER_GROUPS, group, "a parameter group")


@dataclass(frozen=True)
class EvaluationSettings:
    """What every evaluation shares: ``device``, ``data_root``, ``smoke`` (the dataset's presets
    shrunk), ``amp`` (attacks under bf16 autocast, CUDA) and ``progress`` (bars inside a source's
    evaluation); and the values of the :class:`ParameterGroup` s an evaluation owns, by group
    name in ``parameters`` (a group not given takes its default for the dataset)."""

    smoke: bool = False
    data_root: str | None = None
    device: str | None = None
    amp: bool = False
    progress: bool = False
    #: Given as a mapping; kept as sorted (name, value) pairs, so that settings hash and compare by value.
    parameters: Mapping[str, Any] | tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        given = dict(self.parameters)
        if not given:
            object.__setattr__(self, "parameters", ())
            return
        groups = registered_parameters()
        unknown = [name for name in given if name not in groups]
        if unknown:
            raise SelrobError(f"unknown evaluation parameters {', '.join(unknown)}; choose from: {', '.join(groups)}")
        for name, value in given.items():
            groups[name].check(value)
        object.__setattr__(self, "parameters", tuple(sorted(given.items())))

    def given(self) -> dict[str, Any]:
        """The parameter values given, by group name."""
        return dict(self.parameters)

    def command_flags(self, evaluation: Evaluation) -> str:
        """The ``selrob evaluate`` flags that give these settings to ``evaluation`` (its own
        parameters only; those that only a notebook can give are left out)."""
        flags = " --smoke" if self.smoke else ""
        for name, value in self.given().items():
            if registered_parameters()[name] in evaluation.parameters:
                flags += registered_parameters()[name].flags_of(value)
        if self.data_root is not None:
            flags += f" --data-dir {self.data_root}"
        return flags


class EvaluationContext:
    """:class:`EvaluationSettings` resolved for one dataset; data sets are read once per context."""

    def __init__(self, dataset: str, settings: EvaluationSettings) -> None:
        self.dataset = dataset
        self.settings = settings
        self._parameters: dict[str, Any] = {}
        self._loaded: dict[str, Any] = {}

    def parameter(self, group: ParameterGroup) -> Any:
        """The value of ``group``: the settings', else its default for this dataset."""
        if group.name not in self._parameters:
            given = self.settings.given()
            self._parameters[group.name] = (given[group.name] if group.name in given
                                            else group.default(self.dataset, self.settings.smoke))
        return self._parameters[group.name]

    def once(self, key: str, load: Callable[[], Any]) -> Any:
        """``load()``, read once per context (e.g. a -C set)."""
        if key not in self._loaded:
            self._loaded[key] = load()
        return self._loaded[key]

    @functools.cached_property
    def natural(self) -> Any:
        """The :class:`~selrob.data.imagenet_a.NaturalAdversarialSet` (ImageNet-A's shared classes)."""
        from selrob import paths
        from selrob.data.imagenet_a import load_natural_adversarial, shares_classes, without_shared_classes

        if not shares_classes(self.dataset):
            raise SelrobError(without_shared_classes(self.dataset))
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


def _applies(dataset: str) -> str | None:
    return None


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
    * ``parameters``: the :class:`ParameterGroup` s it reads besides the shared settings.
    * ``unavailable(dataset)``: why it does not apply to a dataset's models, in one line (``None``:
      it does), e.g. ImageNet-A for any but Tiny ImageNet's; its ``evaluate`` refuses them with it.

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
    parameters: tuple[ParameterGroup, ...] = ()
    unavailable: Callable[[str], str | None] = _applies

    @property
    def pairwise(self) -> bool:
        return self.pairings is not None


#: Every registered evaluation by name, in registration (import) order, which only breaks ties
#: of :func:`evaluation_order`.
EVALUATIONS: dict[str, Evaluation] = {}


def register(evaluation: Evaluation) -> Evaluation:
    """Add ``evaluation`` to the registry (its name must be new)."""
    return _added(EVALUATIONS, evaluation, "an evaluation")


def registered_parameters() -> dict[str, ParameterGroup]:
    """Every evaluation parameter group, the project's own registered (importing their modules)."""
    import selrob.evaluations  # noqa: F401

    return PARAMETER_GROUPS


def registered_evaluations() -> dict[str, Evaluation]:
    """The registry, with the project's own evaluations registered (importing their modules)."""
    import selrob.evaluations  # noqa: F401

    return EVALUATIONS


def get_evaluation(name: str | Evaluation) -> Evaluation:
    """The registered evaluation ``name`` (an evaluation passed is itself), or a one-line error
    listing the names."""
    if isinstance(name, Evaluation):
        return name
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

