"""The figures' shared style and helpers: the colours (the first paper's alpha palette, the second
paper's standard and robust models), the alpha legend, saving a figure and the image grid both
studies draw. Each study's figures are in :mod:`selrob.plotting.selectivity` and
:mod:`selrob.plotting.shape_bias`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from selrob import paths
from selrob.io import atomic_write

BASELINE_COLOR = (0.25, 0.25, 0.25)
AUGMIX_COLOR = (0.17, 0.63, 0.17)  # green, as Figure A11
#: The second paper's colours: standard models blue, robust (R) models red.
TRAINING_COLOURS = {"standard": "tab:blue", "robust": "tab:red"}


def alpha_palette(alphas: Iterable[float]) -> dict[float, tuple[float, float, float]]:
    """Colour per alpha: ``coolwarm`` scaled by ``alpha / max|alpha|``, alpha = 0 dark grey."""
    values = sorted(set(float(a) for a in alphas))
    scale = max((abs(a) for a in values), default=1.0) or 1.0
    cmap = plt.get_cmap("coolwarm")
    return {a: BASELINE_COLOR if a == 0 else tuple(cmap(0.5 + 0.5 * a / scale)[:3]) for a in values}


def alpha_legend(ax: Axes, title: str = "α") -> None:
    """Relabel the legend of ``ax`` (one entry per alpha) with each alpha in its shortest form."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, [f"{float(label):g}" for label in labels], title=title, fontsize="small", ncols=2)


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
