"""Tables of the second paper's section 3.2 on standard / robust (S / R) pairs: Table 3 (accuracy
on real, adversarial, ImageNet-C style, scrambled, stylized, B&W contour and silhouette images),
Table A1 (each corruption) and Fig A1 (accuracy against the scrambling grid), counted, as in the
paper, only on the images of each pair's correctly classified subset (so ``real`` is 1 by
construction: the table checks it). Rows are per pair (``pair``: its robust model) and model.

Intervals are hierarchical bootstrap 95% CIs over seeds and images
(:func:`selrob.stats.proportion_ci_across_seeds`); a column pooling several cells per image (the
corruptions' 15 x 5, the three grids) averages each image over them first
(:func:`selrob.stats.mean_ci_across_seeds`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from selrob.distortions.image_types import SCRAMBLED
from selrob.errors import SelrobError
from selrob.evaluations.corruptions import corrupted_set
from selrob.evaluations.registry import EvaluationContext, EvaluationSettings
from selrob.corruptions import COMMON
from selrob.stats import mean_ci_across_seeds, proportion_ci_across_seeds
from selrob.tables.evaluations import source_of
from selrob.tables.robust_pairs import MODEL_KEYS, ROBUST, STANDARD, first_pair, ordered, pair_evaluation

#: Table 3's columns a-g.
COLUMNS = ("real", "adversarial", "corruptions", "scrambled", "stylized", "contour", "silhouette")
#: The rows' keys: the pair (its robust model), then the model evaluated.
ROW_KEYS = ["pair", *MODEL_KEYS]
#: Rows in order: per architecture and pair, the standard model first.
ORDER = ("arch", "pair", "training")


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
    table = pair_evaluation(name, runs, settings, evaluate)
    if name == "predictions":
        return table.assign(column="real", cell="real")
    if name == "l2-pgd":
        return table.assign(column="adversarial", cell="adversarial")
    if name == "corruption-predictions":
        return table.assign(column="corruptions", cell=table["corruption"] + "-" + table["severity"].astype(str))
    if name == "stylized-sixteen":
        return table.assign(column="stylized", cell="stylized")
    column = table["image_type"].where(~table["image_type"].isin(list(SCRAMBLED)), "scrambled")
    return table.assign(column=column, cell=table["image_type"])


def decisions(runs: pd.DataFrame, settings: EvaluationSettings | None = None, evaluate: bool = True) -> pd.DataFrame:
    """Every counted decision: per pair, model, seed, Table 3 ``column``, ``cell`` and subset
    image, whether the model is right (``correct``). Column c counts the 15 common corruptions of
    the -C set (the 4 extras of a full set are left out, as in the paper). On ImageNet the
    stylized column is the 16-class stylized set's images whose source validation image is in the
    subset (:mod:`selrob.evaluations.stylized_sixteen`)."""
    from selrob.evaluations.stimuli import stimuli_for

    names = ["predictions", "l2-pgd", "corruption-predictions", "distorted-images",
             *stimuli_for(str(runs["dataset"].iloc[0])).table3_evaluations]
    keep = [*MODEL_KEYS, "seed", "image", "column", "cell", "correct"]
    parts = []
    for name in names:
        part = _column_rows(name, runs, settings, evaluate)
        if "corruption" in part:
            part = part[part["corruption"].isin(COMMON)]
        parts.append(part[[*keep, *(["corruption"] if "corruption" in part else [])]])
    table = pd.concat(parts, ignore_index=True)
    counted = _on_subsets(table.assign(correct=table["correct"].astype(bool)), pair_subsets(runs, settings, evaluate))
    return counted.reset_index(drop=True)


def _summary(table: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Per group of ``by`` (which includes the model's keys), the mean over seeds of the share
    correct with its CI, the seeds and the mean subset images per seed. A group pooling several
    cells per image (Table 3c's corruptions, 3d's grids) averages each image over them first, so
    the CI resamples images, not (image, cell) decisions."""
    rows = []
    for key, group in table.groupby(list(by), sort=False):
        per_image = group.groupby(["seed", "image"])["correct"].mean()
        per_seed = [part.to_numpy() for _, part in per_image.groupby(level="seed")]
        pooled = bool(group.duplicated(["seed", "image"]).any())
        accuracy, low, high = (mean_ci_across_seeds if pooled else proportion_ci_across_seeds)(per_seed)
        rows.append({**dict(zip(by, key)), "accuracy": accuracy, "ci_low": low, "ci_high": high,
                     "seeds": len(per_seed), "images": float(np.mean([len(part) for part in per_seed]))})
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
    for column in COLUMNS:  # a column without decisions (no data for it) stays empty
        for stat, name in (("accuracy", column), ("ci_low", f"{column}_ci_low"), ("ci_high", f"{column}_ci_high")):
            out[name] = wide[(stat, column)] if (stat, column) in wide else np.nan
    sizes = long[long["column"] == "real"].set_index(ROW_KEYS)[["seeds", "images"]]
    return ordered(out.join(sizes).reset_index(), ORDER)


def per_corruption_table(runs: pd.DataFrame, settings: EvaluationSettings | None = None, evaluate: bool = True,
                         table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Table A1: per pair, model and corruption, the accuracy over its five severities."""
    table = decisions(runs, settings, evaluate) if table is None else table
    return ordered(_summary(table[table["column"] == "corruptions"], [*ROW_KEYS, "corruption"]), ORDER)


def scrambled_by_grid(runs: pd.DataFrame, settings: EvaluationSettings | None = None, evaluate: bool = True,
                      table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Fig A1: per pair, model and grid p (1 = the real images), the accuracy on p x p scrambled images."""
    table = decisions(runs, settings, evaluate) if table is None else table
    grids = {"real": 1, **SCRAMBLED}
    chosen = table[table["cell"].isin(list(grids))]
    return ordered(_summary(chosen.assign(grid=chosen["cell"].map(grids)), [*ROW_KEYS, "grid"]), ORDER)


def _world_only(runs: pd.DataFrame, figure: str) -> None:
    from selrob.evaluations.stimuli import stimuli_for

    if not stimuli_for(dataset := str(runs["dataset"].iloc[0])).own_galleries:
        raise SelrobError(f"{figure} is drawn for the embedded world (shapes), not {dataset}")


def distortion_gallery(runs: pd.DataFrame, settings: EvaluationSettings | None = None, images: Sequence[int] = (0, 1, 2, 3, 4),
                       noise_severity: int = 3) -> tuple[dict[str, np.ndarray], list[str]]:
    """Fig 1 / A4: test ``images`` (one row each) in every image type: real, adversarial (L2 PGD
    against the first pair's standard model, the dataset's preset), Gaussian noise from the -C set
    (at ``noise_severity``), scrambled 2 x 2 / 4 x 4 / 8 x 8, stylized, contour and silhouette."""
    from selrob.attacks import l2_attack_preset, pgd_l2_attack
    from selrob.data.batches import to_unit_float
    from selrob.data.shape_texture import SHAPES
    from selrob.distortions.image_types import IMAGE_TYPES, distorted_set

    settings = settings or EvaluationSettings()
    _world_only(runs, "Fig 1 / A4")
    standard = source_of(first_pair(runs)[0])
    data = standard.test_set(settings.data_root)
    index = torch.as_tensor(list(images))
    attack = l2_attack_preset(standard.dataset)
    adversarial = pgd_l2_attack(standard.load_model("cpu"), to_unit_float(data.images[index]), data.labels[index],
                                attack.epsilon, attack.step_size, attack.steps)
    corrupted = corrupted_set(EvaluationContext(standard.dataset, settings))
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
    _world_only(runs, "Fig A6")
    pair = first_pair(runs)
    sources = [source_of(row) for row in pair]
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
