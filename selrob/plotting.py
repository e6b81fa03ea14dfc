"""Plotting helpers shared by the notebooks: the alpha palette, paper figures, saving.

Figures follow the paper: seaborn, alpha as hue on a diverging palette centred on alpha = 0
(negative alpha blue, positive red, alpha = 0 dark grey), error bars as bootstrapped 95%
confidence intervals of the mean across replicates.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from selrob import paths
from selrob.io import atomic_write
from selrob.stats import summarize

N_BOOT = 2_000
BASELINE_COLOR = (0.25, 0.25, 0.25)


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


def plot_layer_selectivity(layers: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Figure A11a style: mean class selectivity per layer, one line per alpha, 95% CI bands."""
    ax = ax or plt.gca()
    sns.lineplot(data=layers, x="layer", y="selectivity", hue="alpha", palette=alpha_palette(layers["alpha"]),
                 errorbar=("ci", 95), n_boot=N_BOOT, seed=0, marker="o", markersize=4, ax=ax)
    ax.set_xlabel("Layer")
    ax.set_ylabel("Mean class selectivity")
    ax.set_xticks(np.arange(layers["layer"].max() + 1))
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, [f"{float(label):g}" for label in labels], title="α", fontsize="small", ncols=2)
    return ax


def figure_name(figure: str, dataset: str, arch: str, smoke: bool = False, alpha: float | None = None) -> str:
    """File stem that says which paper figure this is and for which runs, e.g.
    ``figA2_accuracy_vs_selectivity_digits_resnet20`` (``_alpha-1`` / ``_smoke`` appended)."""
    parts = [figure, dataset, arch]
    if alpha is not None:
        parts.append(f"alpha{float(alpha):g}")
    if smoke:
        parts.append("smoke")
    return "_".join(parts)


def save_figure(fig: Figure, name: str, figures_root: str | Path | None = None) -> list[Path]:
    """Save ``fig`` as ``<name>.png`` and ``<name>.pdf`` in the figures folder (atomically)."""
    folder = paths.figures_dir(figures_root)
    written = []
    for fmt in ("png", "pdf"):
        path = folder / f"{name}.{fmt}"
        atomic_write(path, lambda handle, fmt=fmt: fig.savefig(handle, format=fmt, dpi=200, bbox_inches="tight"))
        written.append(path)
    return written
