"""The first paper's figures (study ``selectivity``, notebooks 01-08).

Figures follow the paper: seaborn, alpha as hue on a diverging palette centred on alpha = 0
(negative alpha blue, positive red, alpha = 0 dark grey; :func:`selrob.plotting.style.alpha_palette`),
error bars as bootstrapped 95% confidence intervals of the mean across replicates
(:func:`selrob.stats.mean_ci`).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from selrob.plotting.style import AUGMIX_COLOR, BASELINE_COLOR, alpha_legend, alpha_palette, plot_image_grid
from selrob.stats import mean_ci, summarize
from selrob.tables.aggregates import label_models


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
    alpha_legend(ax)
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
    alpha_legend(ax)
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


def plot_corruption_gallery(gallery: dict[str, np.ndarray]) -> Figure:
    """Figure A1 style: one row per corruption, columns clean and severities 1..5."""
    return plot_image_grid(gallery, ["clean", *(f"severity {s}" for s in range(1, 6))])
