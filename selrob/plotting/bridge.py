"""The bridge study's figures (notebook 15): the first paper's measures per layer, standard (S)
models blue and robust (R) red (:func:`selrob.plotting.shape_bias.plot_layer_values`), and the
second paper's measures against alpha, one line per architecture."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from selrob.plotting.shape_bias import plot_layer_values


def plot_layer_panels(table: pd.DataFrame, panels: Sequence[tuple[str, str, str]], title: str = "") -> Figure:
    """One panel per ``(column, value, label)``: the rows whose ``column`` is ``value`` (all rows
    when ``column`` is empty) plotted per layer with :func:`plot_layer_values`; ``label`` is the
    panel's y label. ``table`` needs ``depth`` (the layer's position) and ``value``."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.3), squeeze=False)
    for ax, (column, value, label) in zip(axes[0], panels):
        part = table if not column else table[table[column] == value]
        plot_layer_values(part, "value", ax)
        ax.set_xlabel("layer")
        ax.set_ylabel(label)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_against_alpha(frames: Sequence[tuple[pd.DataFrame, str, str]], title: str = "") -> Figure:
    """One panel per ``(per_run, column, label)``: ``column`` of each run against its alpha, a line
    per architecture through the means over seeds, every run a point."""
    fig, axes = plt.subplots(1, len(frames), figsize=(3.2 * len(frames), 3.1), squeeze=False)
    styles = ["-", "--", ":", "-."]
    for ax, (frame, column, label) in zip(axes[0], frames):
        for k, (arch, part) in enumerate(frame.groupby("arch", sort=True)):
            means = part.groupby("alpha")[column].mean()
            line = ax.plot(means.index, means.to_numpy(), linestyle=styles[k % len(styles)], marker="o", label=arch)[0]
            ax.scatter(part["alpha"], part[column], s=12, alpha=0.5, color=line.get_color(), linewidths=0)
        ax.set_xlabel("α (selectivity regularizer)")
        ax.set_ylabel(label)
        ax.legend(frameon=False, fontsize="x-small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
