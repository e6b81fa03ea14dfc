"""Tables of the second paper's standard / robust (S / R) pairs: the runs, Table 1 (clean and L2
PGD accuracy), Table 2 (cue-conflict shape and texture shares) and the sizes of the correctly
classified subsets, each with hierarchical bootstrap 95% CIs over seeds and images
(:func:`selrob.stats.proportion_ci_across_seeds`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from selrob.config import ROBUST_PAIR_GRIDS, SMOKE_PROTOCOL, robust_pair_configs
from selrob.errors import SelrobError
from selrob.evaluations.registry import EvaluationSettings
from selrob.measures.shape_bias import cue_shares_across_seeds, shape_bias
from selrob.stats import proportion_ci_across_seeds
from selrob.tables.evaluations import evaluation_table
from selrob.tables.runs import SweepResults, load_sweep

STANDARD, ROBUST = "standard", "robust"
#: Table rows: per architecture, S then R (ImageNet has two robust ResNet-50s: ``model`` tells them apart).
MODEL_KEYS = ["arch", "model", "training"]


@dataclass(frozen=True)
class Pairs:
    """The models of a set of S / R pairs (``sources``: one row per model with its ``arch``,
    ``model``, ``training``, ``seed`` and ``run_dir`` or ``source``), or why there are none."""

    sources: pd.DataFrame
    unavailable: str | None = None

    @property
    def models(self) -> pd.DataFrame:
        """The models, for display: which is which (architecture, model, standard or robust, seed) and,
        for runs trained here, their test accuracy."""
        return self.sources[[c for c in ("arch", "model", "training", "seed", "test_accuracy") if c in self.sources]]


def load_robust_pairs(
    dataset: str = "shapes", archs: str | Sequence[str] | None = None, seeds: int | Sequence[int] | None = None,
    smoke: bool = False, runs_root: str | Path | None = None, adversarial_steps: int | None = None,
) -> SweepResults:
    """The S and R runs of every (arch, seed) (:func:`selrob.config.robust_pair_configs`) with a
    ``training`` column; raises, naming the command, if any is not trained yet."""
    configs = robust_pair_configs(dataset, archs, seeds, smoke, adversarial_steps)
    parts, missing = [], []
    for arch in dict.fromkeys(c.arch for c in configs):
        for training in (STANDARD, ROBUST):
            chosen = [c for c in configs if c.arch == arch and (c.adversarial_steps is not None) == (training == ROBUST)]
            steps = chosen[0].adversarial_steps
            try:
                results = load_sweep(dataset, arch, 0.0, [c.seed for c in chosen], smoke, runs_root,
                                     **({"adversarial_steps": steps} if steps is not None else {}))
            except SelrobError as error:  # name every missing group's command at once
                missing.append(f"{arch} {training}: {error}")
                continue
            labels = dict(training=training, model=f"{arch} {'R' if training == ROBUST else 'S'}")
            parts.append(SweepResults(results.runs.assign(**labels), results.layers.assign(**labels)))
    if missing:
        raise SelrobError("; ".join(missing))
    return SweepResults(pd.concat([p.runs for p in parts], ignore_index=True),
                        pd.concat([p.layers for p in parts], ignore_index=True))


def pair_evaluation(name: str, runs: pd.DataFrame, settings: EvaluationSettings | None, evaluate: bool,
                **sources: pd.DataFrame) -> pd.DataFrame:
    """:func:`evaluation_table` of ``runs`` with their ``training`` column."""
    table = evaluation_table(name, runs, settings, evaluate=evaluate, progress=False, **sources)
    keys = [key for key in ("arch", "protocol", "alpha", "model", "seed") if key in table and key in runs]
    return table.drop(columns=[c for c in MODEL_KEYS if c in table and c not in keys]).merge(
        runs[[*keys, *(c for c in MODEL_KEYS if c not in keys)]], on=keys)


def _per_seed(table: pd.DataFrame, column: str) -> dict[tuple[Any, ...], list[np.ndarray]]:
    """Per model (``MODEL_KEYS``), one array of ``column`` per seed."""
    return {key: [part[column].to_numpy() for _, part in group.groupby("seed")]
            for key, group in table.groupby(MODEL_KEYS, sort=False)}


def ordered(frame: pd.DataFrame, by: Sequence[str] = ("arch", "training", "model")) -> pd.DataFrame:
    """``frame`` sorted by ``by``, standard models before robust ones (stable otherwise)."""
    order = {STANDARD: 0, ROBUST: 1}
    return frame.sort_values(list(by), key=lambda c: c.map(order) if c.name == "training" else c,
                             kind="stable").reset_index(drop=True)


def _correct(runs: pd.DataFrame, settings: EvaluationSettings | None, evaluate: bool) -> dict[str, pd.DataFrame]:
    """Per test image and run: classified right, clean (``predictions``) and under L2 PGD."""
    tables = {label: pair_evaluation(name, runs, settings, evaluate)
              for label, name in (("clean", "predictions"), ("adversarial", "l2-pgd"))}
    return {label: table.assign(correct=table["correct"].astype(bool)) for label, table in tables.items()}


def accuracy_per_run(runs: pd.DataFrame, settings: EvaluationSettings | None = None,
                     evaluate: bool = True) -> pd.DataFrame:
    """One row per run: its ``clean`` and ``adversarial`` (L2 PGD) test accuracy."""
    frames = [table.groupby([*MODEL_KEYS, "seed"], as_index=False, sort=False)["correct"].mean()
              .rename(columns={"correct": label}) for label, table in _correct(runs, settings, evaluate).items()]
    return ordered(frames[0].merge(frames[1], on=[*MODEL_KEYS, "seed"]))


def accuracy_table(runs: pd.DataFrame, settings: EvaluationSettings | None = None,
                   evaluate: bool = True) -> pd.DataFrame:
    """Table 1: per (arch, training), clean accuracy and accuracy under L2 PGD (means over seeds,
    with CIs), and the number of seeds and test images."""
    correct = {label: _per_seed(table, "correct") for label, table in _correct(runs, settings, evaluate).items()}
    rows = []
    for key, clean in correct["clean"].items():
        row = dict(zip(MODEL_KEYS, key))
        for label in ("clean", "adversarial"):
            row[label], row[f"{label}_ci_low"], row[f"{label}_ci_high"] = proportion_ci_across_seeds(correct[label][key])
        row["seeds"], row["images"] = len(clean), int(clean[0].size)
        rows.append(row)
    return ordered(pd.DataFrame(rows))


def _cue_conflict(runs: pd.DataFrame, settings: EvaluationSettings | None, evaluate: bool) -> pd.DataFrame:
    """The cue-conflict decisions of ``runs``: every image's row, conflict or control."""
    return pair_evaluation("cue-conflict", runs, settings, evaluate)


def _conflicts(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["conflict"]]


def shape_bias_table(runs: pd.DataFrame, settings: EvaluationSettings | None = None,
                     evaluate: bool = True) -> pd.DataFrame:
    """Table 2: per (arch, training), the texture and shape shares of the cue-conflict decisions
    that follow a cue (means over seeds with hierarchical CIs), the decisions that followed
    neither, and the accuracy on the non-conflict controls."""
    table = _cue_conflict(runs, settings, evaluate)
    rows = []
    for key, everything in table.groupby(MODEL_KEYS, sort=False):
        group = _conflicts(everything)
        shares = cue_shares_across_seeds([part["cue"].to_numpy() for _, part in group.groupby("seed")])
        rows.append({**dict(zip(MODEL_KEYS, key)), "texture": shares.texture, "texture_ci_low": shares.texture_low,
                     "texture_ci_high": shares.texture_high, "shape": shares.shape, "shape_ci_low": shares.shape_low,
                     "shape_ci_high": shares.shape_high, "other": 1 - shares.decided / shares.images,
                     # over every control of every seed (the world's controls pair its conflict images)
                     "control_accuracy": float(everything["control_correct"].dropna().astype(float).mean()),
                     "seeds": shares.seeds,
                     "images": shares.images // shares.seeds})
    return ordered(pd.DataFrame(rows))


def per_run_shape_bias(runs: pd.DataFrame, settings: EvaluationSettings | None = None,
                       evaluate: bool = True) -> pd.DataFrame:
    """One row per run: its shape bias (``shape``: shape / (shape + texture) decisions)."""
    table = _conflicts(_cue_conflict(runs, settings, evaluate))
    frame = table.groupby([*MODEL_KEYS, "seed"], as_index=False, sort=False)["cue"].agg(shape_bias)
    return ordered(frame.rename(columns={"cue": "shape"}))


def subset_table(runs: pd.DataFrame, settings: EvaluationSettings | None = None, evaluate: bool = True) -> pd.DataFrame:
    """Per S / R pair (a robust ``model`` with the standard one of its arch and seed): the size of
    its correctly classified subset (ImageNet-CL's analogue) out of its test images."""
    robust, standard = runs[runs["training"] == ROBUST], runs[runs["training"] == STANDARD]
    table = pair_evaluation("correct-subset", robust, settings, evaluate, sources=standard)
    return (table.groupby(["arch", "model", "seed"], as_index=False)
            .agg(images=("in_subset", "size"), subset=("in_subset", "sum"))
            .assign(share=lambda f: f["subset"] / f["images"]))


def load_pairs(dataset: str = "shapes", archs: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
               smoke: bool = False, runs_root: str | Path | None = None, adversarial_steps: int | None = None,
               data_root: str | Path | None = None, needs: Sequence[str] = ("cue-conflict",),
               pairs: Sequence[str] | None = None) -> Pairs:
    """The pairs notebooks 09-13 show: the researcher's registered ``pairs`` when given
    (:func:`user_pairs`); else on a dataset with a pair grid (:data:`ROBUST_PAIR_GRIDS`) the runs
    of :func:`load_robust_pairs` (raising, with the command, when some are not trained), on the
    zoo's dataset (ImageNet) the zoo's pairs whose models are there (:func:`zoo_pairs`; none, with
    what to get, when nothing is or the data in ``needs`` is missing)."""
    from selrob.zoo.entries import ZOO_DATASET

    if pairs is not None:
        if archs is not None or seeds is not None or adversarial_steps is not None:
            raise SelrobError("archs, seeds and adversarial_steps choose the dataset's own pairs; pairs names yours instead")
        return user_pairs(dataset, pairs, runs_root, data_root, SMOKE_PROTOCOL["max_eval_samples"] if smoke else None,
                          needs)
    if dataset in ROBUST_PAIR_GRIDS:
        return Pairs(load_robust_pairs(dataset, archs, seeds, smoke, runs_root, adversarial_steps).runs)
    if dataset != ZOO_DATASET:
        raise SelrobError(f"dataset {dataset!r} has no standard / robust pairs; choose {ZOO_DATASET} or "
                          f"{', '.join(ROBUST_PAIR_GRIDS)}")
    if seeds is not None or adversarial_steps is not None:
        raise SelrobError("seeds and adversarial_steps choose the embedded world's pairs; a zoo model is one "
                          "checkpoint (choose the zoo's pairs with archs)")
    return zoo_pairs(archs, runs_root, data_root, SMOKE_PROTOCOL["max_eval_samples"] if smoke else None, needs)


def zoo_pairs(pairs: Sequence[str] | None = None, runs_root: str | Path | None = None,
              data_root: str | Path | None = None, eval_samples: int | None = None,
              needs: Sequence[str] = ("cue-conflict",)) -> Pairs:
    """The zoo's pairs (:data:`selrob.zoo.entries.PAIRS`; ``None``: the paper's three) whose two
    models are downloaded or imported, as :class:`Pairs` with a ``source`` column; none, with
    what to get, when no pair is complete or the ImageNet validation set or the data in ``needs``
    (:attr:`~selrob.evaluations.stimuli.PairStimuli.needs`) are missing. ``eval_samples`` limits
    the evaluations to the first validation images."""
    from selrob import paths
    from selrob.data import imagenet
    from selrob.evaluations.stimuli import stimuli_for
    from selrob.zoo.entries import PAIRS, ZOO_DATASET
    from selrob.zoo.sources import pair_sources
    from selrob.zoo.weights import status

    names = list(pairs) if pairs is not None else [pair.name for pair in PAIRS.values() if pair.paper]
    root = None if runs_root is None else Path(runs_root)
    sources, absent = {}, []
    for name in names:
        pair = pair_sources(name, root, eval_samples)
        missing = [source.entry.name for source in pair if status(source.entry, root) == "missing"]
        absent += missing
        if not missing:
            sources.update({source.name: source for source in pair})
    reasons = []
    if not sources:
        reasons.append(f"no zoo pair of {', '.join(names)} has both models (missing: {', '.join(dict.fromkeys(absent))}); "
                       "get them with `selrob zoo download all` and `selrob zoo import NAME PATH` (see `selrob zoo list`)")
    data = paths.data_dir(data_root)
    if (reason := imagenet.unavailable_reason(data)) is not None:
        reasons.append(reason)
    reasons += stimuli_for(ZOO_DATASET).missing(data, needs)
    frame = pd.DataFrame([{**source.identity, "source": source} for source in sources.values()])
    return Pairs(frame, "; ".join(reasons) or None)


def user_pairs(dataset: str, pairs: Sequence[str], runs_root: str | Path | None = None,
               data_root: str | Path | None = None, eval_samples: int | None = None,
               needs: Sequence[str] = ("cue-conflict",)) -> Pairs:
    """The researcher's registered pairs (``selrob pair add``; :func:`selrob.user_models.pair_sources`)
    of ``dataset``, as :class:`Pairs` with a ``source`` column, their ``arch`` the pair's name; none,
    with what to get, when the test set or the external data of ``needs`` that the dataset has are
    missing."""
    from selrob import paths
    from selrob.evaluations.stimuli import stimuli_for
    from selrob.store.sources import first_test_images
    from selrob.user_models import pair_sources

    if not pairs:
        raise SelrobError("pairs is empty; name your pairs (selrob pair list), or leave it None for the dataset's own")
    sources = [first_test_images(source, eval_samples) for name in pairs for source in pair_sources(name, runs_root)]
    other = next((source for source in sources if source.dataset != dataset), None)
    if other is not None:
        raise SelrobError(f"pair {other.identity['arch']} classifies {other.dataset}, not {dataset}: "
                          f"run the notebook with -p dataset {other.dataset}")
    stimuli = stimuli_for(dataset)
    reasons = stimuli.missing(paths.data_dir(data_root), [need for need in needs if need in stimuli.needs])
    try:
        sources[0].test_set(data_root)
    except SelrobError as missing:  # e.g. ImageNet's validation archives not placed yet: the line says where
        reasons.insert(0, str(missing))
    frame = pd.DataFrame([{**source.identity, "source": source} for source in sources])
    return Pairs(frame, "; ".join(reasons) or None)


def first_pair(runs: pd.DataFrame, arch: str | None = None) -> tuple[pd.Series, pd.Series]:
    """The S and R run of ``arch``'s first pair (default: the first architecture's): its lowest
    seed, its first robust model; what the galleries show."""
    mine = runs[runs["arch"] == (runs["arch"].iloc[0] if arch is None else arch)]
    mine = mine[mine["seed"] == mine["seed"].min()]
    return mine[mine["training"] == STANDARD].iloc[0], mine[mine["training"] == ROBUST].iloc[0]


def cue_conflict_gallery(runs: pd.DataFrame, settings: EvaluationSettings | None = None,
                         data_root: str | Path | None = None, columns: int = 3
                         ) -> tuple[dict[str, np.ndarray], list[str], dict[str, list[str]]]:
    """Cue-conflict images with the decisions of the first S / R pair of ``runs`` (its first
    architecture and seed, its first robust model): per shape class (row), ``columns`` images with
    other textures, and a caption per image (its texture, ``S: <cue> / R: <cue>``). Returns rows,
    column titles and captions."""
    from selrob import paths
    from selrob.evaluations.stimuli import stimuli_for

    first = pd.DataFrame(list(first_pair(runs)))
    cues = {training: part.set_index("image")["cue"] for training, part in
            _conflicts(_cue_conflict(first, settings, evaluate=True)).groupby("training")}
    numbers, rows, textures, titles = stimuli_for(str(runs["dataset"].iloc[0])).cue_conflict.gallery(
        paths.data_dir(data_root), columns)
    captions = {row: [f"{texture}\nS: {cues[STANDARD][n]} / R: {cues[ROBUST][n]}" for n, texture in zip(chosen, textures[row])]
                for row, chosen in numbers.items()}
    return rows, titles, captions


def paired_differences(per_run: pd.DataFrame, value: str) -> pd.DataFrame:
    """Per pair (each robust model with the standard one of its arch and seed): R minus S of
    ``value``, with both values (``robust``, ``standard``). Rows measured per pair (a ``pair``
    column, e.g. on the pair's correctly classified subset) are matched within their pair."""
    keys = ["pair", "arch", "seed"] if "pair" in per_run else ["arch", "seed"]
    standard = per_run[per_run["training"] == STANDARD][[*keys, value]].rename(columns={value: STANDARD})
    robust = per_run[per_run["training"] == ROBUST][list(dict.fromkeys([*keys, "model", value]))].rename(
        columns={value: ROBUST})
    pairs = robust.merge(standard, on=keys)
    return pairs.assign(difference=pairs[ROBUST] - pairs[STANDARD])


__all__ = ["ROBUST", "ROBUST_PAIR_GRIDS", "STANDARD", "Pairs", "accuracy_per_run", "accuracy_table", "cue_conflict_gallery",
           "first_pair", "ordered",
           "load_pairs", "load_robust_pairs", "paired_differences", "user_pairs",
           "per_run_shape_bias", "shape_bias_table", "subset_table"]
