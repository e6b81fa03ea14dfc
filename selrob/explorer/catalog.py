"""What the explorer can show: the trained runs found in a runs folder, grouped into the first
paper's alpha sweeps and the second paper's standard / robust pairs. Only what is on disk is
offered; nothing here trains or evaluates."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from selrob.config import BRIDGE_GRIDS, ROBUST_PAIR_GRIDS
from selrob.errors import SelrobError
from selrob.tables.robust_pairs import load_pairs
from selrob.tables.runs import load_results
from selrob.zoo.entries import ZOO_DATASET


@dataclass(frozen=True)
class Catalog:
    """The finished runs of a runs folder: ``sweeps`` maps a label ("digits / resnet20") to the
    runs of one alpha sweep (one dataset, architecture and protocol, no AugMix or PGD training),
    ``pairs`` maps a label ("shapes / alexnet_small") to the S and R models of its pairs (with
    ``training`` and ``model`` columns, as :func:`selrob.tables.robust_pairs.load_pairs`), and
    ``alpha_sweeps`` a label of the embedded world to the bridge study's alpha sweep of that
    architecture (:func:`selrob.tables.bridge.load_alpha_sweep`)."""

    sweeps: dict[str, pd.DataFrame]
    pairs: dict[str, pd.DataFrame]
    alpha_sweeps: dict[str, pd.DataFrame] = dataclasses.field(default_factory=dict)


def _plain(runs: pd.DataFrame) -> pd.Series:
    """Rows trained with plain cross-entropy plus the regularizer (no AugMix, PGD or L2 training)."""
    return ~runs["augmix"].fillna(False).astype(bool) & runs["pgd_steps"].isna() & runs["adversarial_steps"].isna()


def _labelled(groups: dict[tuple[str, ...], pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Groups labelled "dataset / arch", with the protocol key added where one (dataset, arch)
    has several (e.g. smoke and full runs in one folder)."""
    per_model: dict[tuple[str, str], int] = {}
    for dataset, arch, _ in groups:
        per_model[dataset, arch] = per_model.get((dataset, arch), 0) + 1
    return {(f"{dataset} / {arch}" if per_model[dataset, arch] == 1 else f"{dataset} / {arch} ({protocol})"): runs
            for (dataset, arch, protocol), runs in groups.items()}


def _pairs(smoke: bool, runs_root: str | Path | None, data_root: str | Path | None) -> dict[str, pd.DataFrame]:
    """Per architecture of each pair preset (the smoke one with ``smoke``) whose S and R runs
    are all trained, and per zoo pair whose checkpoints are there, its models
    (:func:`selrob.tables.robust_pairs.load_pairs`), labelled "dataset / arch"."""
    groups = {}
    for dataset, grid in ROBUST_PAIR_GRIDS.items():
        for arch in grid["archs"]:
            try:
                groups[f"{dataset} / {arch}"] = load_pairs(dataset, [arch], smoke=smoke, runs_root=runs_root).sources
            except SelrobError:  # not trained (yet): nothing to offer
                continue
    zoo = load_pairs(ZOO_DATASET, smoke=smoke, runs_root=runs_root, data_root=data_root, needs=())
    for arch, part in ([] if zoo.unavailable else zoo.sources.groupby("arch", sort=False)):
        groups[f"{ZOO_DATASET} / {arch}"] = part.reset_index(drop=True)
    return groups


def _alpha_sweeps(smoke: bool, runs_root: str | Path | None) -> dict[str, pd.DataFrame]:
    """Per architecture of the bridge grids whose alpha sweep is trained: its runs, labelled "dataset / arch"."""
    from selrob.tables.bridge import load_alpha_sweep

    groups = {}
    for dataset, grid in BRIDGE_GRIDS.items():
        for arch in grid["archs"]:
            try:
                groups[f"{dataset} / {arch}"] = load_alpha_sweep(dataset, [arch], smoke=smoke, runs_root=runs_root)
            except SelrobError:  # not trained (yet), or not in the smoke sweep
                continue
    return groups


def find_catalog(runs_root: str | Path | None = None, smoke: bool = False,
                 data_root: str | Path | None = None) -> Catalog:
    """The sweeps of every finished run below ``runs_root`` (default: the project's), the pairs of
    the presets (smoke ones with ``smoke``) and the zoo, and the bridge's alpha sweeps."""
    runs = load_results(runs_root)
    plain = runs[_plain(runs) & ~runs["dataset"].isin(list(ROBUST_PAIR_GRIDS))] if len(runs) else runs
    sweeps = {key: part.sort_values(["alpha", "seed"]).reset_index(drop=True)
              for key, part in plain.groupby(["dataset", "arch", "protocol"], sort=True)} if len(runs) else {}
    return Catalog(_labelled(sweeps), _pairs(smoke, runs_root, data_root), _alpha_sweeps(smoke, runs_root))
