"""Plotting helpers shared by the notebooks: the alpha palette, paper figures, saving.

Figures follow the paper: seaborn, alpha as hue on a diverging palette centred on alpha = 0
(negative alpha blue, positive red, alpha = 0 dark grey), error bars as bootstrapped 95%
confidence intervals of the mean across replicates (:func:`selrob.stats.mean_ci`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from selrob import paths
from selrob.io import atomic_write
from selrob.tables.aggregates import label_models
from selrob.stats import mean_ci, summarize

BASELINE_COLOR = (0.25, 0.25, 0.25)
AUGMIX_COLOR = (0.17, 0.63, 0.17)  # green, as Figure A11


def alpha_palette(alphas: Iterable[float]) -> dict[float, tuple[float, float, float]]:
    """Colour per alpha: ``coolwarm`` scaled by ``alpha / max|alpha|``, alpha = 0 dark grey."""
    values = sorted(set(float(a) for a in alphas))
    scale = max((abs(a) for a in values), default=1.0) or 1.0
    cmap = plt.get_cmap("coolwarm")
    return {a: BASELINE_COLOR if a == 0 else tuple(cmap(0.5 + 0.5 * a / scale)[:3]) for a in values}


def plot_accuracy_vs_selectivity(runs: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Figure A2: test accuracy against mean class selectivity, one point per model.

    Crosses show each alpha's mean with bootstrapped 95% CIs along both axes.
    """
    ax = ax or plt.gca()
    palette = alpha_palette(runs["alpha"])
    frame = runs.assign(test_accuracy_pct=100 * runs["test_accuracy"])
    sns.scatterplot(data=frame, x="mean_selectivity", y="test_accuracy_pct", hue="alpha", palette=palette,
                    s=30, alpha=0.6, ax=ax, legend=False)
    stats = summarize(frame, "alpha", ["mean_selectivity", "test_accuracy_pct"])
    for _, row in stats.iterrows():
        x, y = row["mean_selectivity"], row["test_accuracy_pct"]
        ax.errorbar(x, y,
                    xerr=[[x - row["mean_selectivity_ci_low"]], [row["mean_selectivity_ci_high"] - x]],
                    yerr=[[y - row["test_accuracy_pct_ci_low"]], [row["test_accuracy_pct_ci_high"] - y]],
                    color=palette[row["alpha"]], marker="o", markersize=7, capsize=3, label=f"{row['alpha']:g}")
    ax.set_xlabel("Mean class selectivity")
    ax.set_ylabel("Test accuracy (%)")
    ax.legend(title="α", fontsize="small", ncols=2)
    return ax


def plot_layer_curves(layers: pd.DataFrame, y: str, ylabel: str, ax: Axes | None = None,
                      augmix: pd.DataFrame | None = None) -> Axes:
    """A per-layer measure ``y`` (one row per run and layer), one line per alpha with 95% CI
    bands over seeds: Figures A11a (selectivity), 3 and A17-A19 (input-unit gradients), 4 and
    A20-A22 (dimensionality). AugMix runs' layers (``augmix``), if given, in green."""
    ax = ax or plt.gca()
    sns.lineplot(data=layers, x="layer", y=y, hue="alpha", palette=alpha_palette(layers["alpha"]),
                 errorbar=mean_ci, marker="o", markersize=4, ax=ax)
    if augmix is not None:
        sns.lineplot(data=augmix, x="layer", y=y, color=AUGMIX_COLOR, errorbar=mean_ci, marker="D", markersize=4, ax=ax,
                     label="AugMix")
    ax.set_xlabel("Layer")
    ax.set_ylabel(ylabel)
    ax.set_xticks(np.arange(layers["layer"].max() + 1))
    handles, labels = ax.get_legend_handles_labels()
    names = [label if label == "AugMix" else f"{float(label):g}" for label in labels]
    ax.legend(handles, names, title="α", fontsize="small", ncols=2)
    return ax


def plot_layer_selectivity(layers: pd.DataFrame, ax: Axes | None = None, augmix: pd.DataFrame | None = None) -> Axes:
    """Figure A11a style: mean class selectivity per layer (:func:`plot_layer_curves`)."""
    return plot_layer_curves(layers, "selectivity", "Mean class selectivity", ax, augmix)


def plot_selectivity_with_augmix(runs: pd.DataFrame, augmix: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Figure A11b/d: mean class selectivity per alpha and for AugMix (green), 95% CIs, with the
    alpha = 0 mean dashed as the baseline AugMix is compared with."""
    ax = ax or plt.gca()
    order = [f"{a:g}" for a in sorted(runs["alpha"].unique())] + ["AugMix"]
    frame = label_models(runs, augmix)
    palette = {f"{a:g}": color for a, color in alpha_palette(runs["alpha"]).items()} | {"AugMix": AUGMIX_COLOR}
    sns.pointplot(data=frame, x="model", y="mean_selectivity", hue="model", order=order, palette=palette,
                  errorbar=mean_ci, linestyle="none", ax=ax, legend=False)
    baseline = runs.loc[runs["alpha"] == 0, "mean_selectivity"]
    if not baseline.empty:
        ax.axhline(baseline.mean(), color=BASELINE_COLOR, linestyle="--", linewidth=1)
    ax.set_xlabel("Regularization scale (α) or AugMix")
    ax.set_ylabel("Mean class selectivity")
    return ax


def _alpha_legend(ax: Axes, title: str = "α") -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, [f"{float(label):g}" for label in labels], title=title, fontsize="small", ncols=2)


def plot_corruption_severity_grid(table: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Figure 1a / A6a / A9a: test accuracy per corruption (x), alpha (colour) and severity
    (severity 1 the top row of points, 5 the bottom), each point the mean over seeds."""
    ax = ax or plt.gca()
    means = table.groupby(["corruption", "alpha", "severity"], as_index=False, sort=False)["accuracy"].mean()
    means["accuracy_pct"] = 100 * means["accuracy"]
    order = list(dict.fromkeys(table["corruption"]))
    palette = alpha_palette(table["alpha"])
    for severity, part in means.groupby("severity"):
        sns.stripplot(data=part, x="corruption", y="accuracy_pct", hue="alpha", order=order, palette=palette,
                      dodge=True, jitter=False, size=3.5, ax=ax, legend=severity == 1)
    ax.set_xticks(range(len(order)), [name.replace("_", "\n") for name in order], fontsize="x-small")
    ax.set_xlabel("Corruption")
    ax.set_ylabel("Test accuracy (%)")
    _alpha_legend(ax)
    return ax


def plot_vs_alpha(frame: pd.DataFrame, y: str, ax: Axes | None = None, hue: str | None = None) -> Axes:
    """A metric against alpha with bootstrapped 95% CIs over the rows of each alpha (one row per
    run, or per run and ``hue`` level): Figures 1b / A6b (mean corrupted accuracy), A3a / A6c
    (normalised by clean accuracy), A3b / A6d (``hue="severity"``)."""
    ax = ax or plt.gca()
    frame = frame.assign(alpha_label=frame["alpha"].map(lambda a: f"{a:g}"))
    order = [f"{a:g}" for a in sorted(frame["alpha"].unique())]
    if hue is None:
        palette = {f"{a:g}": color for a, color in alpha_palette(frame["alpha"]).items()}
        sns.pointplot(data=frame, x="alpha_label", y=y, hue="alpha_label", order=order, palette=palette,
                      errorbar=mean_ci, ax=ax, legend=False)
    else:
        sns.pointplot(data=frame, x="alpha_label", y=y, hue=hue, order=order, palette="rocket_r",
                      errorbar=mean_ci, ax=ax)
        ax.legend(title=hue.capitalize(), fontsize="small")
    ax.set_xlabel("Regularization scale (α)")
    return ax


def plot_per_corruption(table: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Figures A4 / A7: accuracy per corruption averaged over severities, bars per alpha with 95%
    CIs over seeds."""
    ax = ax or plt.gca()
    per_run = table.groupby(["corruption", "alpha", "seed"], as_index=False, sort=False)["accuracy"].mean()
    per_run["accuracy_pct"] = 100 * per_run["accuracy"]
    order = list(dict.fromkeys(table["corruption"]))
    sns.barplot(data=per_run, x="corruption", y="accuracy_pct", hue="alpha", order=order,
                palette=alpha_palette(table["alpha"]), errorbar=mean_ci, ax=ax)
    ax.set_xticks(range(len(order)), [name.replace("_", "\n") for name in order], fontsize="x-small")
    ax.set_xlabel("Corruption")
    ax.set_ylabel("Test accuracy (%)")
    _alpha_legend(ax)
    return ax


def plot_clean_vs_corrupted(table: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Figures A5 / A8: clean (x) against corrupted (y) accuracy per alpha (fill colour) and
    severity (edge shade), the corrupted accuracy averaged over corruptions, 95% CIs over seeds."""
    ax = ax or plt.gca()
    per_run = table.groupby(["alpha", "severity", "seed"], as_index=False).agg(
        corrupted=("accuracy", "mean"), clean=("clean_accuracy", "first"))
    per_run[["corrupted", "clean"]] *= 100
    palette = alpha_palette(table["alpha"])
    shades = sns.color_palette("rocket_r", 5)
    stats = summarize(per_run, ["alpha", "severity"], ["clean", "corrupted"])
    for _, row in stats.iterrows():
        x, y = row["clean"], row["corrupted"]
        ax.errorbar(x, y, xerr=[[x - row["clean_ci_low"]], [row["clean_ci_high"] - x]],
                    yerr=[[y - row["corrupted_ci_low"]], [row["corrupted_ci_high"] - y]], color=palette[row["alpha"]],
                    marker="o", markersize=7, markeredgecolor=shades[int(row["severity"]) - 1], markeredgewidth=1.5,
                    capsize=2, linestyle="none", label=f"{row['alpha']:g}" if row["severity"] == 1 else None)
    ax.set_xlabel("Clean test accuracy (%)")
    ax.set_ylabel("Corrupted test accuracy (%)")
    ax.legend(title="α (edge: severity\n1 light .. 5 dark)", fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1))
    return ax


def plot_alpha_curves(frame: pd.DataFrame, x: str, y: str, ax: Axes | None = None, style: str | None = None) -> Axes:
    """One line per alpha of ``y`` (a fraction, drawn in %) against ``x`` with bootstrapped 95% CI
    bands over seeds: Figures 2a / A12a / A13a (``x="epsilon"``), 2b / A12b / A13b
    (``x="step"``) and A14 (``style="relation"``: dashed "same replicate", solid otherwise)."""
    ax = ax or plt.gca()
    frame = frame.assign(accuracy_pct=100 * frame[y])
    styles = {"different replicate": "", "same replicate": (4, 2)} if style == "relation" else None
    sns.lineplot(data=frame, x=x, y="accuracy_pct", hue="alpha", palette=alpha_palette(frame["alpha"]),
                 style=style, dashes=styles, errorbar=mean_ci, ax=ax)
    ax.set_ylabel("Test accuracy (%)")
    # Few ticks, shortest form: CIFAR-10's epsilons (0.0025 apart) otherwise give overlapping labels.
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=x == "step"))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.6g}"))
    handles, labels = ax.get_legend_handles_labels()
    names = [f"{float(label):g}" if _is_number(label) else {"alpha": "α"}.get(label, label) for label in labels]
    ax.legend(handles, names, fontsize="small", ncols=2)
    return ax


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def plot_vs_pgd_steps(frame: pd.DataFrame, y: str, ax: Axes | None = None) -> Axes:
    """Figure A16: a per-run measure against the number of PGD training steps (0 = standard
    training at alpha 0), mean over seeds with bootstrapped 95% CIs."""
    ax = ax or plt.gca()
    sns.lineplot(data=frame, x="pgd_steps", y=y, color=BASELINE_COLOR, marker="o", errorbar=mean_ci, ax=ax)
    ax.set_xlabel("PGD training steps")
    ax.set_xticks(sorted(frame["pgd_steps"].unique()))
    return ax


def save_figure(fig: Figure, name: str, figures_root: str | Path | None = None) -> list[Path]:
    """Save ``fig`` as ``<name>.png`` and ``<name>.pdf`` in the figures folder (atomically), with
    no time stamp in the PDF, so that the same data give the same bytes."""
    folder = paths.figures_dir(figures_root)
    written = []
    for fmt, metadata in (("png", None), ("pdf", {"CreationDate": None})):
        path = folder / f"{name}.{fmt}"
        atomic_write(path, lambda handle, fmt=fmt, metadata=metadata: fig.savefig(
            handle, format=fmt, dpi=200, bbox_inches="tight", metadata=metadata))
        written.append(path)
    return written


def plot_image_grid(rows: dict[str, np.ndarray], column_titles: Sequence[str], size: float = 0.9,
                    captions: dict[str, Sequence[str]] | None = None) -> Figure:
    """One row of images per entry of ``rows`` (a stack of H x W x C uint8 images, labelled by its
    key), one title per column and, if given, a caption under each image (``captions`` by row)."""
    columns = max(len(stack) for stack in rows.values())
    fig, axes = plt.subplots(len(rows), columns, figsize=(columns * size, len(rows) * size), squeeze=False)
    for row, (name, stack) in zip(axes, rows.items()):
        for column, ax in enumerate(row):
            if column < len(stack):
                image = stack[column]
                ax.imshow(image.squeeze(), cmap="gray" if image.shape[-1] == 1 else None, vmin=0, vmax=255,
                          interpolation="nearest")
                if captions is not None:
                    ax.set_xlabel(captions[name][column], fontsize="xx-small")
            ax.set_xticks([])
            ax.set_yticks([])
            if column == 0:
                ax.set_ylabel(name.replace("_", "\n"), rotation=0, ha="right", va="center", fontsize="x-small")
    for ax, title in zip(axes[0], column_titles):
        ax.set_title(title, fontsize="x-small")
    fig.subplots_adjust(wspace=0.05, hspace=0.4 if captions is not None else 0.05)
    return fig


def plot_corruption_gallery(gallery: dict[str, np.ndarray]) -> Figure:
    """Figure A1 style: one row per corruption, columns clean and severities 1..5."""
    return plot_image_grid(gallery, ["clean", *(f"severity {s}" for s in range(1, 6))])


#: The second paper's colours: standard models blue, robust (R) models red.
TRAINING_COLOURS = {"standard": "tab:blue", "robust": "tab:red"}


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
