"""The second paper's figures (study ``shape_bias``, notebooks 09-13): standard (S) models blue,
robust (R) models red (:data:`selrob.plotting.style.TRAINING_COLOURS`).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from selrob.plotting.style import TRAINING_COLOURS


def plot_accuracy_vs_grid(table: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Fig A1: accuracy against the scrambling grid (1 = the real images) per model of each pair
    (``table`` from :func:`selrob.tables.distorted_images.scrambled_by_grid`), with CIs."""
    ax = ax or plt.subplots(figsize=(5, 3.5))[1]
    styles = ["-", "--", ":", "-."]
    for k, ((pair, model, training), group) in enumerate(table.groupby(["pair", "model", "training"], sort=False)):
        group = group.sort_values("grid")
        ax.errorbar(group["grid"].astype(str) + "x" + group["grid"].astype(str), group["accuracy"],
                    yerr=[group["accuracy"] - group["ci_low"], group["ci_high"] - group["accuracy"]],
                    color=TRAINING_COLOURS[training], linestyle=styles[(k // 2) % len(styles)], marker="o", capsize=3,
                    label=model if table["pair"].nunique() == table["arch"].nunique() else f"{model} ({pair})")
    ax.set_xlabel("scrambling grid")
    ax.set_ylabel("accuracy on the correct subset")
    ax.set_ylim(0, 1.05)
    ax.legend(frameon=False, fontsize="x-small")
    return ax


def plot_layer_values(table: pd.DataFrame, value: str, ax: Axes | None = None) -> Axes:
    """A per-layer value (e.g. Fig A27's mean kernel TV) against layer depth, one line per model
    (the mean over seeds; a band from the lowest to the highest seed), S blue and R red."""
    ax = ax or plt.subplots(figsize=(5, 3.5))[1]
    styles = ["-", "--", ":", "-."]
    for k, ((arch, model, training), group) in enumerate(table.groupby(["arch", "model", "training"], sort=False)):
        stats = group.groupby("depth")[value].agg(["mean", "min", "max"])
        ax.plot(stats.index, stats["mean"], marker="o", color=TRAINING_COLOURS[training],
                linestyle=styles[list(dict.fromkeys(table["arch"])).index(arch) % len(styles)], label=model)
        ax.fill_between(stats.index, stats["min"], stats["max"], color=TRAINING_COLOURS[training], alpha=0.15)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("conv layer")
    ax.legend(frameon=False, fontsize="x-small")
    return ax


def plot_clean_vs_noisy_tv(table: pd.DataFrame, title: str = "") -> Figure:
    """Fig 3 / A5: per dissected layer (a panel), each channel's mean activation TV on clean
    (x) against noisy (y) images, S blue and R red, with the diagonal (no change)."""
    layers = list(dict.fromkeys(table.sort_values("depth")["layer"]))
    fig, axes = plt.subplots(1, len(layers), figsize=(2.6 * len(layers), 2.8), squeeze=False)
    for ax, layer in zip(axes[0], layers):
        part = table[table["layer"] == layer]
        for training, group in part.groupby("training", sort=False):
            ax.scatter(group["clean"], group["noisy"], s=6, alpha=0.5, color=TRAINING_COLOURS[training],
                       label=training, linewidths=0)
        top = float(max(part["clean"].max(), part["noisy"].max())) * 1.05 or 1.0
        ax.plot([0, top], [0, top], color="0.4", linewidth=0.8, linestyle="--")
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_title(layer, fontsize="small")
        ax.set_xlabel("TV, clean images", fontsize="x-small")
        ax.tick_params(labelsize="xx-small")
    axes[0][0].set_ylabel("TV, noisy images", fontsize="x-small")
    axes[0][0].legend(frameon=False, fontsize="x-small", markerscale=2)
    if title:
        fig.suptitle(title, fontsize="small")
    fig.tight_layout()
    return fig


def plot_paired_shares(per_run: pd.DataFrame, summary: pd.DataFrame, value: str, ax: Axes | None = None) -> Axes:
    """Per architecture, the standard (S) and robust (R) models' ``value`` (e.g. shape bias):
    the mean over seeds with its CI (``<value>_ci_low`` / ``_ci_high`` in ``summary``, one row
    per model) and, per seed, thin lines joining the S model to each R model (``per_run``). With
    a ``pair`` column (values measured per pair, e.g. on its subset) a standard model shared by
    two pairs is drawn once per pair, joined to that pair's R model."""
    ax = ax or plt.subplots(figsize=(5, 3.5))[1]
    archs = list(dict.fromkeys(summary["arch"]))
    keys = ["pair", "model"] if "pair" in summary else ["model"]
    labelled: set[str] = set()
    for a, arch in enumerate(archs):
        models = summary[summary["arch"] == arch]
        offsets = np.linspace(-0.15, 0.15, len(models)) if len(models) > 1 else np.zeros(1)
        positions = dict(zip(models[keys].itertuples(index=False, name=None), a + offsets))
        runs = per_run[per_run["arch"] == arch]
        for _, group in runs.groupby(["seed", *keys[:-1]]):
            standard = group[group["training"] == "standard"]
            for _, robust in group[group["training"] == "robust"].iterrows():
                for _, partner in standard.iterrows():
                    ax.plot([positions[tuple(partner[keys])], positions[tuple(robust[keys])]],
                            [partner[value], robust[value]], color="0.6", linewidth=0.8, zorder=1)
        for _, row in models.iterrows():
            label = row["training"] if row["training"] not in labelled else None
            labelled.add(row["training"])
            ax.errorbar([positions[tuple(row[keys])]], [row[value]],
                        yerr=[[row[value] - row[f"{value}_ci_low"]], [row[f"{value}_ci_high"] - row[value]]],
                        fmt="o", color=TRAINING_COLOURS[row["training"]], capsize=3, zorder=2, label=label)
    ax.set_xticks(range(len(archs)), archs)
    ax.legend(frameon=False, fontsize="small")
    return ax


def plot_category_counts(table: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Fig 4a / A7: per architecture and category, bars of the interpretable units of the S and R
    models (means over seeds with their CIs, ``table`` from
    :func:`selrob.tables.dissection.category_count_table`), R's change in % above its bar."""
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    groups = list(dict.fromkeys(zip(table["arch"], table["category"])))
    models = list(dict.fromkeys(zip(table["arch"], table["model"], table["training"])))
    per_arch = max(sum(1 for a, _, _ in models if a == arch) for arch, _ in groups)
    width = 0.8 / per_arch
    labelled: set[str] = set()
    for g, (arch, category) in enumerate(groups):
        part = table[(table["arch"] == arch) & (table["category"] == category)]
        for k, row in enumerate(part.itertuples()):
            x = g + (k - (len(part) - 1) / 2) * width
            label = row.training if row.training not in labelled else None
            labelled.add(row.training)
            ax.bar(x, row.count, width * 0.9, color=TRAINING_COLOURS[row.training], label=label,
                   yerr=[[row.count - row.ci_low], [row.ci_high - row.count]], capsize=2)
            if row.training == "robust" and np.isfinite(row.change_percent):
                ax.annotate(f"{row.change_percent:+.0f}%", (x, row.ci_high), ha="center", va="bottom",
                            fontsize="xx-small", xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(range(len(groups)), [f"{category}\n{arch}" for arch, category in groups], fontsize="x-small")
    ax.set_ylabel("interpretable units (IoU >= 0.04)")
    ax.legend(frameon=False, fontsize="x-small")
    return ax


def plot_concept_difference(table: pd.DataFrame, categories: Sequence[str], title: str = "") -> Figure:
    """Fig A8: per category (a panel), each concept's R minus S count of interpretable units
    (``table`` from :func:`selrob.tables.dissection.concept_count_difference`, one R model); a
    category without interpretable units in either model says so."""
    fig, axes = plt.subplots(1, len(categories), figsize=(3.2 * len(categories), 3), squeeze=False)
    for ax, category in zip(axes[0], categories):
        part = table[table["category"] == category]
        if part.empty:
            ax.text(0.5, 0.5, "no interpretable unit", ha="center", va="center", transform=ax.transAxes,
                    fontsize="x-small")
        colours = [TRAINING_COLOURS["robust" if d > 0 else "standard"] for d in part["difference"]]
        ax.bar(range(len(part)), part["difference"], color=colours)
        ax.axhline(0, color="0.4", linewidth=0.8)
        ax.set_xticks(range(len(part)), part["label"], rotation=90, fontsize="xx-small")
        ax.set_title(category, fontsize="small")
        ax.tick_params(axis="y", labelsize="xx-small")
    axes[0][0].set_ylabel("units, R minus S", fontsize="x-small")
    if title:
        fig.suptitle(title, fontsize="small")
    fig.tight_layout()
    return fig


def plot_mosaics(panels: dict[str, np.ndarray], columns: int = 3, size: float = 2.4) -> Figure:
    """One image per panel (e.g. a unit's top-49 mosaic), titled with its key, ``columns`` to a row
    (an empty figure saying so when there is no panel)."""
    rows = max(1, -(-len(panels) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * size, rows * (size + 0.4)), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    if not panels:
        axes[0][0].text(0.5, 0.5, "no unit to show", ha="center", va="center", transform=axes[0][0].transAxes)
    for ax, (title, image) in zip(axes.ravel(), panels.items()):
        ax.imshow(image, interpolation="nearest")
        ax.set_title(title, fontsize="xx-small")
    fig.tight_layout()
    return fig


def plot_shape_texture_scores(summary: pd.DataFrame, title: str = "") -> Figure:
    """Fig 4b: per group (every unit, then each NetDissect category), each model's mean Shape (o)
    and Texture (^) score per unit with CIs (``summary`` from
    :func:`selrob.tables.channel_ablation.score_summary`, one architecture), over light bars of
    its units per seed (right axis)."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    counts = ax.twinx()
    groups = list(dict.fromkeys(summary["group"]))
    models = list(dict.fromkeys(zip(summary["model"], summary["training"])))
    width = 0.8 / len(models)
    for k, (model, training) in enumerate(models):
        part = summary[summary["model"] == model].set_index("group").reindex(groups)
        x = np.arange(len(groups)) + (k - (len(models) - 1) / 2) * width
        colour = TRAINING_COLOURS[training]
        counts.bar(x, part["units"], width * 0.9, color=colour, alpha=0.15, zorder=0)
        for value, marker, offset in (("shape_score", "o", -0.15), ("texture_score", "^", 0.15)):
            ax.errorbar(x + offset * width, part[value], yerr=[part[value] - part[f"{value}_ci_low"],
                                                               part[f"{value}_ci_high"] - part[value]],
                        fmt=marker, color=colour, capsize=2, label=f"{value.split('_')[0]} score, {model}")
    ax.set_zorder(counts.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("mean score per unit (images flipped)")
    counts.set_ylabel("units per model", color="0.5")
    ax.legend(frameon=False, fontsize="xx-small", loc="upper left")
    if title:
        ax.set_title(title, fontsize="small")
    fig.tight_layout()
    return fig
