"""Average-case robustness (section 4.1, Figure 1): a trained model's accuracy on every
(corruption, severity) cell of a -C set, cached in its run folder.

The cache file is ``<run>/evaluations/corruptions-<source>-<set fingerprint>.json``; it is
rewritten after each corruption, so an interrupted evaluation resumes, and a regenerated set
(another seed or algorithm version) gets its own file instead of stale numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm

from selrob.analysis.evaluate import evaluate_accuracy
from selrob.data.corrupted import SEVERITY_LEVELS, CorruptedSet
from selrob.device import resolve_device
from selrob.errors import SelrobError
from selrob.io import read_json, write_json
from selrob.runs import Run

Cells = dict[str, dict[int, float]]


def corruption_cache_path(run: Run, corrupted: CorruptedSet) -> Path:
    """Where ``run``'s accuracies on ``corrupted`` are cached."""
    return run.evaluations_dir / f"corruptions-{corrupted.source}-{corrupted.fingerprint}.json"


def cached_corruption_accuracy(run: Run, corrupted: CorruptedSet) -> Cells:
    """The cells already evaluated: ``{corruption: {severity: accuracy}}``."""
    path = corruption_cache_path(run, corrupted)
    if not path.is_file():
        return {}
    stored = read_json(path)["accuracy"]
    return {name: {int(s): float(a) for s, a in cells.items()} for name, cells in stored.items()}


def _write_cache(run: Run, corrupted: CorruptedSet, cells: Cells) -> None:
    write_json(corruption_cache_path(run, corrupted), {
        "set": {"dataset": corrupted.dataset, "source": corrupted.source, "path": str(corrupted.path)},
        "accuracy": {n: {str(s): a for s, a in c.items()} for n, c in cells.items()},
    })


def store_corruption_accuracy(run: Run, corrupted: CorruptedSet, cells: Cells) -> None:
    """Merge whole corruptions' ``cells`` into ``run``'s cache for ``corrupted`` (atomically), for
    evaluations that see the accuracies along the way (corruption dimensionality)."""
    _write_cache(run, corrupted, cached_corruption_accuracy(run, corrupted) | cells)


def evaluate_corruptions(
    run: Run,
    corrupted: CorruptedSet,
    corruptions: Sequence[str] | None = None,
    device: str | torch.device | None = None,
    batch_size: int = 1024,
    progress: bool = True,
) -> Cells:
    """Top-1 accuracy of ``run``'s model on each (corruption, severity) of ``corrupted``.

    ``corruptions`` defaults to every corruption in the set. Cached cells are not recomputed.
    Runs trained with ``max_eval_samples`` (smoke runs) are evaluated on the same number of
    images of each cell, the first ones (in test-set order for npy sets).
    """
    available = corrupted.corruptions()
    chosen = list(available if corruptions is None else corruptions)
    missing = [name for name in chosen if name not in available]
    if missing:
        raise SelrobError(f"{corrupted.path} has no {missing[0]}; generate it with `selrob data make-c --dataset {corrupted.dataset}`")
    cells = cached_corruption_accuracy(run, corrupted)
    todo = [name for name in chosen if set(cells.get(name, {})) != set(SEVERITY_LEVELS)]
    if not todo:
        return {name: cells[name] for name in chosen}
    device = resolve_device(device)
    model = run.load_model(device)
    limit = run.config().max_eval_samples
    for name in tqdm(todo, desc=f"corruptions {run.path.parent.name}/{run.path.name}", unit="corruption",
                     disable=not progress, leave=False):
        cells[name] = {}
        for severity in SEVERITY_LEVELS:
            data = corrupted.load(name, severity).head(limit)
            cells[name][severity] = evaluate_accuracy(model, data.to(device), batch_size)
        _write_cache(run, corrupted, cells)  # cells started from the cache: nothing to re-read
    return {name: cells[name] for name in chosen}
