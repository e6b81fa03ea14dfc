"""Tables of the second paper's section 3.3.1 on standard / robust (S / R) pairs: filter
smoothness (Table 4, Fig A27), matched and all first-layer filters (Figs 2, A2, A3) and the
smoothness of activation maps on clean and noisy images (Figs 3, A5).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from selrob.evaluations.registry import EvaluationSettings
from selrob.measures.filter_matching import match_filters
from selrob.measures.total_variation import conv_layers, total_variation
from selrob.stats import bootstrap_ci
from selrob.tables.evaluations import source_of
from selrob.tables.robust_pairs import MODEL_KEYS, ROBUST, STANDARD, first_pair, ordered, pair_evaluation


def kernel_tv_by_layer(runs: pd.DataFrame, settings: EvaluationSettings | None = None,
                       evaluate: bool = True) -> pd.DataFrame:
    """Fig A27: per model, seed and conv layer, the mean TV of its 2-D kernels."""
    return pair_evaluation("kernel-tv", runs, settings, evaluate)


def per_run_kernel_tv(runs: pd.DataFrame, settings: EvaluationSettings | None = None,
                      evaluate: bool = True) -> pd.DataFrame:
    """Per model and seed: ``mean_tv`` over all its 2-D kernels (each layer weighted by its
    kernels) and ``conv1_tv``, the first layer's."""
    layers = kernel_tv_by_layer(runs, settings, evaluate)
    rows = []
    for key, group in layers.groupby([*MODEL_KEYS, "seed"], sort=False):
        weights = group["kernels"].to_numpy(dtype=float)
        rows.append({**dict(zip([*MODEL_KEYS, "seed"], key)), "mean_tv": float(np.average(group["mean_tv"], weights=weights)),
                     "conv1_tv": float(group.sort_values("depth")["mean_tv"].iloc[0])})
    return pd.DataFrame(rows)


def kernel_tv_table(runs: pd.DataFrame, settings: EvaluationSettings | None = None, evaluate: bool = True) -> pd.DataFrame:
    """Table 4: per model, the mean kernel TV (all conv layers, and conv1) over seeds with
    bootstrap 95% CIs over seeds."""
    per_run = per_run_kernel_tv(runs, settings, evaluate)
    rows = []
    for key, group in per_run.groupby(MODEL_KEYS, sort=False):
        row = dict(zip(MODEL_KEYS, key))
        for value in ("mean_tv", "conv1_tv"):
            row[value], row[f"{value}_ci_low"], row[f"{value}_ci_high"] = bootstrap_ci(group[value].to_numpy())
        rows.append({**row, "seeds": len(group)})
    return ordered(pd.DataFrame(rows), ("arch", "training"))


def first_layer_filters(row: pd.Series) -> np.ndarray:
    """The first conv layer's weights (out, in, k, k) of the run in ``row``."""
    model = source_of(row).load_model("cpu")
    return conv_layers(model)[0][1].weight.detach().double().numpy()


def filter_images(filters: np.ndarray) -> np.ndarray:
    """Filters (N, C, k, k) as k x k x C uint8 images, each scaled on its own from its minimum to its
    maximum (the usual way to show first-layer filters)."""
    low = filters.min(axis=(1, 2, 3), keepdims=True)
    span = np.maximum(filters.max(axis=(1, 2, 3), keepdims=True) - low, 1e-12)
    return np.rint((filters - low) / span * 255).astype(np.uint8).transpose(0, 2, 3, 1)


def matched_filters(standard: pd.Series, robust: pd.Series) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Fig 2 / A2 for one pair: per standard conv1 filter (``filter``), its best robust match
    (``match``), their Spearman ``r``, both kernels' TV (summed over input channels, as the paper's
    per-filter number) and ``tv_difference`` (S minus R: positive when the S filter is rougher).
    Also returns both filter banks."""
    s, r = first_layer_filters(standard), first_layer_filters(robust)
    matches = match_filters(s, r)
    tv_s = total_variation(torch.from_numpy(s)).sum(dim=1).numpy()
    tv_r = total_variation(torch.from_numpy(r)).sum(dim=1).numpy()
    table = pd.DataFrame({"filter": np.arange(len(s)), "match": matches.match, "r": matches.r,
                          "tv_standard": tv_s, "tv_robust": tv_r[matches.match]})
    return table.assign(tv_difference=table["tv_standard"] - table["tv_robust"]), s, r


def matched_filter_gallery(runs: pd.DataFrame, arch: str, count: int | None = 12
                           ) -> tuple[dict[str, np.ndarray], list[str], dict[str, list[str]]]:
    """``arch``'s first pair's standard conv1 filters, each above its best R match, captioned with
    r and the TV difference: Fig 2, the ``count`` best matches (highest r); Fig A2 (``None``):
    every filter, in order."""
    standard, robust = first_pair(runs, arch)
    table, s, r = matched_filters(standard, robust)
    best = table if count is None else table.sort_values("r", ascending=False, kind="stable").head(count)
    rows = {standard["model"]: filter_images(s[best["filter"].to_numpy()]),
            robust["model"]: filter_images(r[best["match"].to_numpy()])}
    captions = {standard["model"]: [f"#{f}" for f in best["filter"]],
                robust["model"]: [f"r {row.r:.2f}\nTV diff {row.tv_difference:+.2g}" for row in best.itertuples()]}
    return rows, [f"filter {k + 1}" for k in range(len(best))], captions


def filter_bank_gallery(runs: pd.DataFrame, arch: str, columns: int = 16) -> tuple[dict[str, np.ndarray], list[str]]:
    """Fig A3 for ``arch``'s first pair: every conv1 filter of the S model (first rows) and of
    the R model (last rows), ``columns`` to a row."""
    rows: dict[str, np.ndarray] = {}
    for row in first_pair(runs, arch):
        images = filter_images(first_layer_filters(row))
        for k, start in enumerate(range(0, len(images), columns)):
            rows[f"{row['model']} {k + 1}"] = images[start : start + columns]
    return rows, ["" for _ in range(columns)]


def activation_tv_table(runs: pd.DataFrame, settings: EvaluationSettings | None = None,
                        evaluate: bool = True) -> pd.DataFrame:
    """Fig 3 / A5: per pair (``pair``: its robust model), model, seed, dissected layer and channel,
    the mean TV of the channel's maps on the pair's subset, ``clean`` and ``noisy``."""
    robust, standard = runs[runs["training"] == ROBUST], runs[runs["training"] == STANDARD]
    table = pair_evaluation("activation-tv", robust, settings, evaluate, sources=standard).rename(columns={"model": "pair"})
    partner = dict(zip(zip(standard["arch"], standard["seed"]), standard["model"]))
    model = [pair if role == ROBUST else partner[(arch, seed)]
             for pair, role, arch, seed in zip(table["pair"], table["role"], table["arch"], table["seed"])]
    return table.assign(training=table["role"], model=model).drop(columns=["role", "standard"])


def per_run_noise_sensitivity(table: pd.DataFrame) -> pd.DataFrame:
    """Per pair, model and seed, at the first dissected layer: the mean over channels of the
    relative TV increase under noise, (noisy - clean) / clean (channels silent on clean images
    are left out)."""
    first = table[table["depth"] == 1]
    first = first[first["clean"] > 0]
    ratio = first.assign(increase=(first["noisy"] - first["clean"]) / first["clean"])
    return ratio.groupby(["pair", *MODEL_KEYS, "seed"], as_index=False, sort=False)["increase"].mean()
