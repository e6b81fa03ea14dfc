"""Tables of the second paper's section 3.3.2 on standard / robust (S / R) pairs: what units
detect by Network Dissection (Bau et al. 2017).

A unit counts for a category when it is interpretable (its best concept's IoU >= 0.04) and that
concept is in the category. Fig 4a / A7: interpretable units per category, S vs R, and R's change
in %; Fig A9: the same per layer; Fig A8: per concept, R minus S units; Fig A10: mean diversity
(concepts with IoU >= 0.01) per layer; Figs A12-A19: a unit's top-49 probe images.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from selrob.data.batches import to_unit_float
from selrob.errors import SelrobError
from selrob.evaluations.registry import EvaluationContext, EvaluationSettings
from selrob.measures.units import MapRecorder
from selrob.stats import bootstrap_ci
from selrob.tables.evaluations import cached_result, source_of
from selrob.store.sources import ModelSource
from selrob.tables.robust_pairs import MODEL_KEYS, ROBUST, STANDARD, ordered, pair_evaluation

RUN_KEYS = [*MODEL_KEYS, "seed"]


def unit_table(runs: pd.DataFrame, settings: EvaluationSettings | None = None, evaluate: bool = True) -> pd.DataFrame:
    """Per model, seed, dissected layer and unit: its label, category, IoU, whether it is
    interpretable and its diversity."""
    return pair_evaluation("dissection", runs, settings, evaluate)


def probe_categories(runs: pd.DataFrame, settings: EvaluationSettings | None = None) -> list[str]:
    """The categories of the probe set the models of ``runs`` are dissected on."""
    from selrob.evaluations.dissection import probe_concepts

    dataset = str(runs["dataset"].iloc[0])
    return probe_concepts(dataset, EvaluationContext(dataset, settings or EvaluationSettings())).categories


def categories_of(units: pd.DataFrame) -> list[str]:
    """The categories the units' labels are in, in the order they first appear (a unit with no
    IoU at all is labelled "-" in no category)."""
    return [c for c in dict.fromkeys(units["category"]) if isinstance(c, str) and c]


def interpretable(units: pd.DataFrame) -> pd.Series:
    """Whether each row's unit is interpretable (False where a row has no dissection)."""
    return units["interpretable"].fillna(False).astype(bool)


def rows_of(frame: pd.DataFrame, run: pd.Series) -> pd.DataFrame:
    """The rows of ``frame`` of the model and seed of ``run`` (a runs-table row)."""
    return frame[(frame["arch"] == run["arch"]) & (frame["model"] == run["model"]) & (frame["seed"] == run["seed"])]


def dissected_layer(source: ModelSource, layer: str) -> str:
    """``source``'s dissected module whose name is ``layer`` (as the tables show it, without a
    leading ``backbone.``)."""
    for name in source.dissected_layers:
        if name.removeprefix("backbone.") == layer.removeprefix("backbone."):
            return name
    raise SelrobError(f"{source.name} has no dissected layer {layer!r}; its dissected layers are "
                      f"{', '.join(name.removeprefix('backbone.') for name in source.dissected_layers)}")


def per_run_category_counts(units: pd.DataFrame, by_layer: bool = False,
                            categories: Sequence[str] | None = None) -> pd.DataFrame:
    """Interpretable units per model, seed (and ``layer`` with ``depth``) and category (default:
    those of the units' labels; pass :func:`probe_categories` to count every category of the
    probe set), 0 where none; ``units`` counts every unit of the layers counted."""
    keys = [*RUN_KEYS, *(("layer", "depth") if by_layer else ())]
    categories = list(categories) if categories is not None else categories_of(units)
    counted = units[interpretable(units)].groupby([*keys, "category"], sort=False).size()
    totals = units.groupby(keys, sort=False).size().rename("units")
    table = counted.unstack("category").reindex(index=totals.index, columns=categories).fillna(0).astype(int)
    return table.join(totals).reset_index().melt(id_vars=[*keys, "units"], value_vars=categories,
                                                 var_name="category", value_name="count")


def category_count_table(units: pd.DataFrame, categories: Sequence[str] | None = None) -> pd.DataFrame:
    """Fig 4a / A7: per architecture, model and category, the mean count of interpretable units
    over seeds with bootstrap 95% CIs over seeds, and per R model its change against the S model
    of its architecture, ``change_percent`` = (R - S) / S x 100 of the means (NaN when S has none)."""
    counts = per_run_category_counts(units, categories=categories)
    rows = []
    for key, group in counts.groupby([*MODEL_KEYS, "category"], sort=False):
        mean, low, high = bootstrap_ci(group["count"].to_numpy(dtype=float))
        rows.append({**dict(zip([*MODEL_KEYS, "category"], key)), "count": mean, "ci_low": low, "ci_high": high,
                     "units": int(group["units"].iloc[0]), "seeds": len(group)})
    table = pd.DataFrame(rows)
    standard = table[table["training"] == STANDARD].set_index(["arch", "category"])["count"]
    reference = standard.reindex(pd.MultiIndex.from_frame(table[["arch", "category"]])).to_numpy()
    change = np.where(reference > 0, (table["count"] - reference) / np.where(reference > 0, reference, 1) * 100, np.nan)
    table["change_percent"] = np.where(table["training"] == ROBUST, change, np.nan)
    return ordered(table, ("arch", "training", "model"))


def layer_category_counts(units: pd.DataFrame, categories: Sequence[str] | None = None) -> pd.DataFrame:
    """Fig A9: per model, seed, layer and category (default: those of the units' labels), its
    interpretable units."""
    return per_run_category_counts(units, by_layer=True, categories=categories)


def concept_count_difference(units: pd.DataFrame, categories: Sequence[str] = ("texture", "object")) -> pd.DataFrame:
    """Fig A8: per architecture, R model and concept of ``categories``, the mean over seeds of R's
    interpretable units labelled with it minus its S partner's (same architecture and seed);
    sorted from the largest gain to the largest loss."""
    chosen = units[interpretable(units) & units["category"].isin(categories)]
    counts = chosen.groupby([*RUN_KEYS, "category", "label"], sort=False).size().rename("count").reset_index()
    pairs = units[RUN_KEYS].drop_duplicates()
    concepts = chosen[["category", "label"]].drop_duplicates()
    grid = pairs.merge(concepts, how="cross").merge(counts, how="left", on=[*RUN_KEYS, "category", "label"])
    grid["count"] = grid["count"].fillna(0)
    standard = grid[grid["training"] == STANDARD][["arch", "seed", "category", "label", "count"]]
    robust = grid[grid["training"] == ROBUST]
    paired = robust.merge(standard, on=["arch", "seed", "category", "label"], suffixes=("", "_standard"))
    paired["difference"] = paired["count"] - paired["count_standard"]
    table = paired.groupby(["arch", "model", "category", "label"], as_index=False, sort=False).agg(
        difference=("difference", "mean"), robust=("count", "mean"), standard=("count_standard", "mean"),
        seeds=("seed", "nunique"))
    return table.sort_values(["arch", "model", "difference", "label"], ascending=[True, True, False, True],
                             kind="stable").reset_index(drop=True)


def per_run_diversity(units: pd.DataFrame, by_layer: bool = False) -> pd.DataFrame:
    """Per model and seed (and layer): the mean diversity of its units."""
    keys = [*RUN_KEYS, *(("layer", "depth") if by_layer else ())]
    return units.groupby(keys, as_index=False, sort=False)["diversity"].mean()


def diversity_table(units: pd.DataFrame) -> pd.DataFrame:
    """Fig A10: per model and layer, the mean unit diversity over seeds with bootstrap 95% CIs
    over seeds, and over all layers (``layer`` "all", depth 0)."""
    per_layer = per_run_diversity(units, by_layer=True)
    overall = per_run_diversity(units).assign(layer="all", depth=0)
    rows = []
    for key, group in pd.concat([overall, per_layer]).groupby([*MODEL_KEYS, "layer", "depth"], sort=False):
        mean, low, high = bootstrap_ci(group["diversity"].to_numpy(dtype=float))
        rows.append({**dict(zip([*MODEL_KEYS, "layer", "depth"], key)), "diversity": mean, "ci_low": low, "ci_high": high,
                     "seeds": len(group)})
    return ordered(pd.DataFrame(rows), ("arch", "training", "model")).sort_values(
        ["arch", "training", "model", "depth"], kind="stable").reset_index(drop=True)


def per_run_unit_summary(units: pd.DataFrame, categories: Sequence[str] | None = None) -> pd.DataFrame:
    """Per model and seed: its interpretable units per category (one column each, ``categories``
    as in :func:`per_run_category_counts`) and its mean unit diversity, the values the claims pair."""
    counts = per_run_category_counts(units, categories=categories).pivot_table(index=RUN_KEYS, columns="category", values="count",
                                                        sort=False).reset_index()
    counts.columns.name = None
    return counts.merge(per_run_diversity(units), on=RUN_KEYS)


def best_units(units: pd.DataFrame, run: pd.Series, category: str | None = None, label: str | None = None,
               count: int = 1, only_interpretable: bool = False) -> pd.DataFrame:
    """The ``count`` units of ``run`` (a runs-table row) with the highest IoU, among those labelled
    ``label`` or in ``category`` when given (Figs A12-A19 "by concept"), and interpretable ones
    only when asked."""
    mine = rows_of(units, run)
    if only_interpretable:
        mine = mine[interpretable(mine)]
    if category is not None:
        mine = mine[mine["category"] == category]
    if label is not None:
        mine = mine[mine["label"] == label]
    return mine.sort_values(["iou", "depth", "unit"], ascending=[False, True, True], kind="stable").head(count)


def mosaic(images: np.ndarray, columns: int) -> np.ndarray:
    """Images (N, H, W, 3) tiled ``columns`` to a row with a 1-pixel white gap."""
    n, h, w, c = images.shape
    rows = -(-n // columns)
    tiled = np.full((rows * (h + 1) - 1, columns * (w + 1) - 1, c), 255, dtype=np.uint8)
    for k, image in enumerate(images):
        r, q = divmod(k, columns)
        tiled[r * (h + 1): r * (h + 1) + h, q * (w + 1): q * (w + 1) + w] = image
    return tiled


@torch.no_grad()
def unit_top_images(run: pd.Series, layer: str, unit: int, settings: EvaluationSettings | None = None,
                    columns: int = 7, evaluate: bool = True) -> np.ndarray:
    """Figs A12-A19: the unit's top probe images (by maximum activation, the dissection's top 49)
    as one mosaic, each image dimmed outside the unit's thresholded, upsampled map (the region it
    detects). Without ``evaluate`` a missing dissection is an error naming its command."""
    from selrob.evaluations.dissection import probe_images

    source = source_of(run)
    context = EvaluationContext(source.dataset, settings or EvaluationSettings())
    full = dissected_layer(source, layer)
    cell = cached_result("dissection", source, context.settings, evaluate)[full]
    images = probe_images(source.dataset, context, cell["top_images"][unit], source.eval_samples)
    model = source.load_model("cpu").eval()
    recorder = MapRecorder(model, [full])
    try:
        model(to_unit_float(images))
        maps = recorder.maps[full][:, unit : unit + 1].double()
    finally:
        recorder.close()
    region = F.interpolate(maps, size=tuple(images.shape[2:]), mode="bilinear", align_corners=False) > cell["threshold"][unit]
    shown = np.where(region.numpy(), images.numpy(), (images.numpy() * 0.25).astype(np.uint8))
    return mosaic(shown.transpose(0, 2, 3, 1), columns)


def top_image_panels(units: pd.DataFrame, runs: pd.DataFrame, settings: EvaluationSettings | None = None,
                     categories: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Per category (default: those of the units' labels) and model of the pair in ``runs`` (its
    S and R rows), the top images of its highest-IoU interpretable unit in that category, titled
    with model, layer, unit, label and IoU; a model without such a unit has no panel."""
    panels = {}
    for category in categories or categories_of(units):
        for _, run in runs.iterrows():
            for best in best_units(units, run, category, only_interpretable=True).itertuples():
                title = f"{run['model']} {best.layer} #{best.unit}\n{best.label} ({category}), IoU {best.iou:.2f}"
                panels[title] = unit_top_images(run, best.layer, best.unit, settings)
    return panels
