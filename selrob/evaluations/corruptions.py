"""Average-case robustness (section 4.1, Figure 1): accuracy on every (corruption, severity) cell
of a -C set, cached per source.

The cache entry is keyed by the set (its source and fingerprint: a regenerated set gets its own
entry instead of stale numbers) and holds one cell per corruption, stored as soon as its five
severities are evaluated, so an interrupted evaluation resumes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from selrob.data.corrupted import SEVERITY_LEVELS, check_source
from selrob.errors import SelrobError
from selrob.evaluations.common import entry, resumable_cells
from selrob.evaluations.registry import (Evaluation, EvaluationContext, ParameterGroup, of_type, register,
                                        register_parameters)
from selrob.measures.evaluate import evaluate_accuracy
from selrob.store.cache import CacheEntry
from selrob.store.sources import ModelSource

#: ``{corruption: {severity: accuracy}}``
Cells = dict[str, dict[int, float]]
BATCH_SIZE = 1024
#: Images read of each (corruption, severity) cell, by dataset (others: all of them): the first 150
#: of the shape-texture world's 1,000 keep its studies within the 2-core time budget (its models'
#: 75 cells were half of their evaluation time at 500; Table 3c averages each image over them first).
CELL_IMAGES: dict[str, int] = {"shapes": 150}


@dataclass(frozen=True)
class CorruptedSetChoice:
    """Which -C set the corruption evaluations read: ``source`` is ``generated`` or ``official``
    (``None``: the generated one, or the official one of a dataset without a generator, ImageNet-C)
    and ``corruptions`` a subset of it (``None``: every corruption in it)."""

    source: str | None = None
    corruptions: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if self.source is not None:
            check_source(self.source)
        if self.corruptions is not None:  # a tuple, so that settings hash and compare by value
            object.__setattr__(self, "corruptions", tuple(self.corruptions))

    def flags(self) -> str:
        return ((f" --source {self.source}" if self.source is not None else "")
                + (" --corruptions " + " ".join(self.corruptions) if self.corruptions is not None else ""))


def _add_flags(parser: Any) -> None:
    parser.add_argument("--source", help="-C set: generated (default; selrob data make-c) or official "
                        "(the default for ImageNet-C, which is official only)")
    parser.add_argument("--corruptions", nargs="+", help="a subset of the -C set (default: every corruption in it)")


def _from_flags(args: Any) -> CorruptedSetChoice | None:
    if args.source is None and args.corruptions is None:
        return None
    return CorruptedSetChoice(args.source, args.corruptions)


CORRUPTED_SET = register_parameters(ParameterGroup(
    "corrupted_set", default=lambda dataset, smoke: CorruptedSetChoice(), add_flags=_add_flags, from_flags=_from_flags,
    flags_of=CorruptedSetChoice.flags, check=of_type(CorruptedSetChoice, "corrupted_set")))


def corrupted_set(context: EvaluationContext) -> Any:
    """The :class:`~selrob.data.corrupted.CorruptedSet` the context chose, read once."""
    from selrob.data.corrupted import CorruptedSet, default_source

    choice = context.parameter(CORRUPTED_SET)
    return context.once("corrupted_set", lambda: CorruptedSet(context.dataset, choice.source or default_source(context.dataset),
                                                              context.settings.data_root))


def corrupted_set_params(context: EvaluationContext) -> dict[str, str]:
    """What names the -C set in cache keys."""
    corrupted = corrupted_set(context)
    return {"dataset": corrupted.dataset, "source": corrupted.source, "fingerprint": corrupted.fingerprint}


def chosen_corruptions(context: EvaluationContext) -> list[str]:
    """The settings' corruptions (default: every corruption in the set), checked against the set."""
    corrupted = corrupted_set(context)
    available = corrupted.corruptions()
    given = context.parameter(CORRUPTED_SET).corruptions
    chosen = list(available if given is None else given)
    missing = [name for name in chosen if name not in available]
    if missing:
        raise SelrobError(f"{corrupted.path} has no {missing[0]}; generate it with "
                          f"`selrob data make-c --dataset {corrupted.dataset}{corrupted.data_flag}`")
    return chosen


def cell_images(source: ModelSource) -> int | None:
    """How many images of each -C cell ``source`` is evaluated on (the first ones; ``None``: all):
    its ``eval_samples`` or its dataset's :data:`CELL_IMAGES`, the fewer."""
    return min((n for n in (source.eval_samples, CELL_IMAGES.get(source.dataset)) if n is not None), default=None)


def corruption_entry(source: ModelSource, context: EvaluationContext) -> CacheEntry:
    """Where ``source``'s accuracies on the context's -C set are cached (keyed by its number of
    images when limited: a zoo model's smoke and full evaluations share a folder)."""
    limit = {} if cell_images(source) is None else {"images": cell_images(source)}
    return entry(source, "corruptions", {"set": corrupted_set_params(context), **limit})


def _stored(by_severity: Mapping[int, float]) -> dict[str, float]:
    return {str(severity): accuracy for severity, accuracy in by_severity.items()}


def store_corruption_accuracy(source: ModelSource, context: EvaluationContext, cells: Cells) -> None:
    """Add whole corruptions' ``cells`` to ``source``'s cache, for evaluations that see the
    accuracies along the way (corruption dimensionality)."""
    corruption_entry(source, context).merge_cells({name: _stored(by_severity) for name, by_severity in cells.items()})


def evaluate_corruptions(source: ModelSource, context: EvaluationContext) -> Cells:
    """Top-1 accuracy of ``source``'s model on each (corruption, severity) of the chosen
    corruptions, on the first :func:`cell_images` of each cell (in test-set order for npy sets)."""

    def accuracy(model: torch.nn.Module, name: str, severity: int, device: torch.device) -> float:
        parts = [(evaluate_accuracy(model, batch.to(device), BATCH_SIZE), len(batch))
                 for batch in corrupted_set(context).cell_batches(name, severity, cell_images(source))]
        return sum(a * n for a, n in parts) / sum(n for _, n in parts)

    def compute(model: torch.nn.Module, name: str, device: torch.device) -> dict[str, float]:
        return _stored({severity: accuracy(model, name, severity, device) for severity in SEVERITY_LEVELS})

    cells = resumable_cells(source, context, corruption_entry(source, context), chosen_corruptions(context), compute,
                            "corruptions", "corruption")
    return {name: {int(s): float(a) for s, a in by_severity.items()} for name, by_severity in cells.items()}


def corruption_rows(result: Mapping[str, Mapping[int, float]], context: EvaluationContext) -> Iterator[dict[str, Any]]:
    for name, by_severity in result.items():
        for severity, accuracy in sorted(by_severity.items()):
            yield {"corruption": name, "severity": severity, "accuracy": accuracy}


CORRUPTIONS = register(Evaluation(
    name="corruptions", description="accuracy per corruption and severity of a -C set (Figure 1, A3-A9)",
    columns=("corruption", "severity", "accuracy"), value="accuracy", evaluate=evaluate_corruptions,
    rows=corruption_rows, headline_label="mean over corruptions and severities",
    is_cached=lambda source, context: corruption_entry(source, context).is_complete(chosen_corruptions(context)),
    parameters=(CORRUPTED_SET,),
))
