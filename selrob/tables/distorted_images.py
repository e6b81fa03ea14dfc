"""Tables of the second paper's section 3.2 on standard / robust (S / R) pairs: Table 3 (accuracy
on real, adversarial, ImageNet-C style, scrambled, stylized, B&W contour and silhouette images),
Table A1 (each corruption) and Fig A1 (accuracy against the scrambling grid), counted, as in the
paper, only on the images of each pair's correctly classified subset (so ``real`` is 1 by
construction: the table checks it). Rows are per pair (``pair``: its robust model) and model.

Intervals are hierarchical bootstrap 95% CIs over seeds and images
(:func:`selrob.stats.proportion_ci_across_seeds`); a column pooling several cells (the
corruptions' 15 x 5, the three grids) resamples (image, cell) decisions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from selrob.distortions.image_types import SCRAMBLED
from selrob.evaluations.registry import EvaluationSettings
from selrob.stats import proportion_ci_across_seeds
from selrob.store.sources import ModelSource
from selrob.tables.evaluations import sources_of
from selrob.tables.robust_pairs import MODEL_KEYS, ROBUST, STANDARD, pair_evaluation

#: Table 3's columns a-g.
COLUMNS = ("real", "adversarial", "corruptions", "scrambled", "stylized", "contour", "silhouette")
#: The rows' keys: the pair (its robust model), then the model evaluated.
ROW_KEYS = ["pair", *MODEL_KEYS]


def pair_subsets(runs: pd.DataFrame, settings: EvaluationSettings | None = None, evaluate: bool = True) -> pd.DataFrame:
    """The images of each pair's correctly classified subset: ``pair`` (its robust model), ``arch``,
    ``seed`` and ``image``."""
    robust, standard = runs[runs["training"] == ROBUST], runs[runs["training"] == STANDARD]
    table = pair_evaluation("correct-subset", robust, settings, evaluate, sources=standard)
    kept = table[table["in_subset"].astype(bool)]
    return kept[["model", "arch", "seed", "image"]].rename(columns={"model": "pair"}).reset_index(drop=True)


def _on_subsets(table: pd.DataFrame, subsets: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``table`` (per model and image) on each pair's subset: a standard model's rows
    for every pair of its arch and seed, a robust model's for its own pair."""
    merged = table.merge(subsets, on=["arch", "seed", "image"])
    return merged[(merged["training"] == STANDARD) | (merged["model"] == merged["pair"])]


def _column_rows(name: str, runs: pd.DataFrame, settings: EvaluationSettings | None, evaluate: bool) -> pd.DataFrame:
    """Per model and image, correct or not, with the Table 3 ``column`` and the ``cell`` it counts in."""
    if name == "predictions":
        table = pair_evaluation(name, runs, settings, evaluate)
        return table.assign(column="real", cell="real")
    if name == "l2-pgd":
        return pair_evaluation(name, runs, settings, evaluate).assign(column="adversarial", cell="adversarial")
    if name == "corruption-predictions":
        table = pair_evaluation(name, runs, settings, evaluate)
        return table.assign(column="corruptions", cell=table["corruption"] + "-" + table["severity"].astype(str))
    table = pair_evaluation("distorted-images", runs, settings, evaluate)
    column = table["image_type"].where(~table["image_type"].isin(list(SCRAMBLED)), "scrambled")
    return table.assign(column=column, cell=table["image_type"])


def decisions(runs: pd.DataFrame, settings: EvaluationSettings | None = None, evaluate: bool = True) -> pd.DataFrame:
    """Every counted decision: per pair, model, seed, Table 3 ``column``, ``cell`` and subset
    image, whether the model is right (``correct``)."""
    subsets = pair_subsets(runs, settings, evaluate)
    keep = [*MODEL_KEYS, "seed", "image", "column", "cell", "correct"]
    parts = [_column_rows(name, runs, settings, evaluate)
             for name in ("predictions", "l2-pgd", "corruption-predictions", "distorted-images")]
    table = pd.concat([part[[*keep, *(["corruption"] if "corruption" in part else [])]] for part in parts],
                      ignore_index=True)
    return _on_subsets(table.assign(correct=table["correct"].astype(bool)), subsets).reset_index(drop=True)


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    order = {STANDARD: 0, ROBUST: 1}
    return frame.sort_values(["arch", "pair", "training"], key=lambda c: c.map(order) if c.name == "training" else c,
                             kind="stable").reset_index(drop=True)


def _summary(table: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Per group of ``by`` (which includes the model's keys), the mean over seeds of the share
    correct with its CI, the seeds and the mean subset images per seed."""
    rows = []
    for key, group in table.groupby(list(by), sort=False):
        per_seed = [part["correct"].to_numpy() for _, part in group.groupby("seed")]
        accuracy, low, high = proportion_ci_across_seeds(per_seed)
        rows.append({**dict(zip(by, key)), "accuracy": accuracy, "ci_low": low, "ci_high": high,
                     "seeds": len(per_seed), "images": float(group.groupby("seed")["image"].nunique().mean())})
    return pd.DataFrame(rows)


def distorted_accuracy_table(runs: pd.DataFrame, settings: EvaluationSettings | None = None,
                             evaluate: bool = True, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Table 3: per pair and model, the accuracy in each column a-g (``<column>``,
    ``<column>_ci_low``, ``<column>_ci_high``), the seeds and the subset's mean size.
    ``table``: :func:`decisions` when already loaded."""
    table = decisions(runs, settings, evaluate) if table is None else table
    long = _summary(table, [*ROW_KEYS, "column"])
    wide = long.pivot_table(index=ROW_KEYS, columns="column", values=["accuracy", "ci_low", "ci_high"], sort=False)
    out = pd.DataFrame(index=wide.index)
    for column in COLUMNS:
        out[column] = wide[("accuracy", column)]
        out[f"{column}_ci_low"], out[f"{column}_ci_high"] = wide[("ci_low", column)], wide[("ci_high", column)]
    sizes = long[long["column"] == "real"].set_index(ROW_KEYS)[["seeds", "images"]]
    return _ordered(out.join(sizes).reset_index())


def per_corruption_table(runs: pd.DataFrame, settings: EvaluationSettings | None = None, evaluate: bool = True,
                         table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Table A1: per pair, model and corruption, the accuracy over its five severities."""
    table = decisions(runs, settings, evaluate) if table is None else table
    return _ordered(_summary(table[table["column"] == "corruptions"], [*ROW_KEYS, "corruption"]))


def scrambled_by_grid(runs: pd.DataFrame, settings: EvaluationSettings | None = None, evaluate: bool = True,
                      table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Fig A1: per pair, model and grid p (1 = the real images), the accuracy on p x p scrambled images."""
    table = decisions(runs, settings, evaluate) if table is None else table
    grids = {"real": 1, **SCRAMBLED}
    chosen = table[table["cell"].isin(list(grids))]
    return _ordered(_summary(chosen.assign(grid=chosen["cell"].map(grids)), [*ROW_KEYS, "grid"]))


def _first_pair(runs: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """The S and R run of the first pair: the first architecture's lowest seed, its first robust model."""
    arch, seed = runs["arch"].iloc[0], runs["seed"].min()
    mine = runs[(runs["arch"] == arch) & (runs["seed"] == seed)]
    return mine[mine["training"] == STANDARD].iloc[0], mine[mine["training"] == ROBUST].iloc[0]


def _source(row: pd.Series) -> ModelSource:
    return sources_of(pd.DataFrame([row]))[0]


def distortion_gallery(runs: pd.DataFrame, settings: EvaluationSettings | None = None, images: Sequence[int] = (0, 1, 2, 3, 4),
                       noise_severity: int = 3) -> tuple[dict[str, np.ndarray], list[str]]:
    """Fig 1 / A4: test ``images`` (one row each) in every image type: real, adversarial (L2 PGD
    against the first pair's standard model, the dataset's preset), Gaussian noise from the -C set
    (at ``noise_severity``), scrambled 2 x 2 / 4 x 4 / 8 x 8, stylized, contour and silhouette."""
    from selrob.attacks import l2_attack_preset, pgd_l2_attack
    from selrob.data.batches import to_unit_float
    from selrob.data.corrupted import CorruptedSet
    from selrob.data.shape_texture import SHAPES
    from selrob.distortions.image_types import IMAGE_TYPES, distorted_set

    settings = settings or EvaluationSettings()
    standard = _source(_first_pair(runs)[0])
    data = standard.test_set(settings.data_root)
    index = torch.as_tensor(list(images))
    attack = l2_attack_preset(standard.dataset)
    adversarial = pgd_l2_attack(standard.load_model("cpu"), to_unit_float(data.images[index]), data.labels[index],
                                attack.epsilon, attack.step_size, attack.steps)
    corrupted = CorruptedSet(standard.dataset, settings.corruption_source, settings.data_root)
    columns = {"real": data.images[index], "adversarial": (adversarial * 255).round().to(torch.uint8),
               f"noise (s{noise_severity})": corrupted.load("gaussian_noise", noise_severity).images[index],
               **{t: distorted_set(standard.dataset, t, settings.data_root).images[index] for t in IMAGE_TYPES}}
    rows = {f"{i}: {SHAPES[int(data.labels[i])]}": np.stack([stack[k].permute(1, 2, 0).numpy() for stack in columns.values()])
            for k, i in enumerate(images)}
    return rows, list(columns)


def scrambled_top5(runs: pd.DataFrame, settings: EvaluationSettings | None = None, count: int = 4,
                   evaluate: bool = True) -> tuple[dict[str, np.ndarray], list[str], dict[str, list[str]]]:
    """Fig A6: the first ``count`` images of the first pair's subset, real and scrambled on each
    grid (columns), with the top-5 classes of its standard (S) and robust (R) model under each
    (captions; the true class in capitals)."""
    from selrob.data.batches import to_unit_float
    from selrob.data.shape_texture import SHAPES
    from selrob.distortions.image_types import distorted_set

    settings = settings or EvaluationSettings()
    pair = _first_pair(runs)
    sources = [_source(row) for row in pair]
    subset = pair_subsets(runs[runs["model"].isin([row["model"] for row in pair]) & (runs["seed"] == pair[0]["seed"])],
                          settings, evaluate)
    chosen = torch.as_tensor(subset["image"].to_numpy()[:count])
    data = sources[0].test_set(settings.data_root)
    stacks = {"1x1 (real)": data.images[chosen],
              **{f"{grid}x{grid}": distorted_set(sources[0].dataset, name, settings.data_root).images[chosen]
                 for name, grid in SCRAMBLED.items()}}
    tops = {}
    with torch.no_grad():
        for label, source in zip(("S", "R"), sources):
            model = source.load_model("cpu")
            tops[label] = {column: model(to_unit_float(stack)).topk(5, dim=1).indices for column, stack in stacks.items()}

    def names(classes: torch.Tensor, truth: int) -> str:
        return " ".join(SHAPES[c][:4].upper() if c == truth else SHAPES[c][:4] for c in classes.tolist())

    rows, captions = {}, {}
    for k, image in enumerate(chosen.tolist()):
        truth = int(data.labels[image])
        key = f"{image}: {SHAPES[truth]}"
        rows[key] = np.stack([stack[k].permute(1, 2, 0).numpy() for stack in stacks.values()])
        captions[key] = [f"S: {names(tops['S'][c][k], truth)}\nR: {names(tops['R'][c][k], truth)}" for c in stacks]
    return rows, list(stacks), captions


def per_run_accuracy(table: pd.DataFrame) -> pd.DataFrame:
    """One row per pair, model and seed: its accuracy in each Table 3 column (the claims' data)."""
    frame = table.groupby([*ROW_KEYS, "seed", "column"], as_index=False, sort=False)["correct"].mean()
    return frame.pivot_table(index=[*ROW_KEYS, "seed"], columns="column", values="correct").reset_index()


__all__ = ["COLUMNS", "decisions", "distorted_accuracy_table", "distortion_gallery", "pair_subsets",
           "per_corruption_table", "per_run_accuracy", "scrambled_by_grid", "scrambled_top5"]
