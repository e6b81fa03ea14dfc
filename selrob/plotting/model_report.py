"""The model report's plots (notebook ``14_model_report``): one small panel per cached measure."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from selrob.tables.model_report import Panel


def plot_report(panels: Sequence[tuple[Panel, pd.DataFrame]], title: str, columns: int = 3) -> Figure:
    """A grid of ``panels`` (:func:`selrob.tables.model_report.report_panels`), titled ``title``."""
    rows = max(1, math.ceil(len(panels) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.0 * rows), squeeze=False)
    for ax, (panel, data) in zip(axes.flat, panels):
        if panel.kind == "line":
            sns.lineplot(data=data, x=panel.x, y=panel.y, marker="o", ax=ax)
            if pd.api.types.is_integer_dtype(data[panel.x]):  # layers and steps: no 0.2 ticks
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        else:
            sns.barplot(data=data, x=panel.x, y=panel.y, color=sns.color_palette()[0], ax=ax)
            ax.tick_params(axis="x", labelrotation=30)
        ax.set_title(panel.title, fontsize=9)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
