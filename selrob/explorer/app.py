"""The explorer: ipywidgets controls over the cached results of both studies and the panels they
drive (notebook ``00_explore.ipynb``).

Controls offer only what the caches hold (:mod:`selrob.explorer.catalog`); each panel declares
the controls it depends on and is redrawn, from :class:`SweepViews` or :class:`PairViews`, when
one of them changes. Every panel keeps the data it last drew in :attr:`Explorer.data` and how long
the redraw took in :attr:`Explorer.seconds`, so the explorer can be tested and timed without a
browser. A panel whose results are not cached says which command computes them; nothing here
trains or evaluates.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
from IPython.display import HTML, Image, display
from matplotlib.figure import Figure

from selrob.errors import SelrobError
from selrob.evaluations.registry import EvaluationSettings
from selrob.explorer.catalog import SELECTIVITY, SHAPE_BIAS, Catalog, find_catalog
from selrob.explorer.selectivity_views import BASELINE, SweepViews
from selrob.explorer.shape_bias_views import PairViews
from selrob.plotting import alpha_palette
from selrob.tables.dissection import mosaic

#: The value of the alpha and seed controls that selects every run.
ALL = "all"
#: Resolution of the panels' figures.
DPI = 80


@dataclass(frozen=True)
class Panel:
    """One view: its key (in :attr:`Explorer.data`), title, the study it belongs to, the controls
    it depends on, and ``draw(explorer) -> (data, what to display)``."""

    key: str
    title: str
    study: str
    depends: frozenset[str]
    draw: Callable[["Explorer"], tuple[Any, Any]]


def _figure(width: float = 5.0, height: float = 3.2, columns: int = 1,
            margins: tuple[float, float, float, float] = (0.6, 0.45, 0.15, 0.35)) -> tuple[Figure, Any]:
    """A figure of ``columns`` axes with fixed ``margins`` (left, bottom, right, top, in inches):
    a plain Figure, not pyplot's, and no layout engine, so drawing it costs a third less."""
    size = (width * columns, height)
    fig = Figure(figsize=size, dpi=DPI)
    left, bottom, right, top = margins
    fig.subplots_adjust(left=left / size[0], bottom=bottom / height, right=1 - right / size[0], top=1 - top / height,
                        wspace=0.3)
    axes = fig.subplots(1, columns, squeeze=False)[0]
    return fig, axes if columns > 1 else axes[0]


def _png(fig: Figure) -> Image:
    """The figure rendered here, so that a redraw's time includes its rendering."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return Image(data=buffer.getvalue(), format="png")


def _selectivity(ex: Explorer) -> tuple[Any, Any]:
    data = ex.sweep.selectivity_distribution(ex.alpha, ex.seed, ex.value("layer"))
    fig, ax = _figure()
    palette = alpha_palette(data["alpha"])
    bins = np.linspace(0, 1, 21)
    for alpha, part in data.groupby("alpha"):
        ax.hist(part["selectivity"], bins=bins, density=True, histtype="step", linewidth=1.8, color=palette[alpha],
                label=f"{alpha:g}")
    ax.set_xlabel("Class selectivity index")
    ax.set_ylabel("Density")
    ax.legend(title="α", fontsize="x-small", ncols=2)
    ax.set_title(f"layer {ex.value('layer')}, {_runs_label(ex)} (α = {BASELINE:g}: baseline)", fontsize="small")
    return data, fig


def _class_means(ex: Explorer) -> tuple[Any, Any]:
    seed = ex.seed if ex.seed is not None else ex.sweep.seeds[0]
    data = ex.sweep.class_means(ex.alpha, seed, ex.value("layer"), ex.value("unit"))
    fig, ax = _figure()
    alphas = sorted(data["alpha"].unique())
    palette, width = alpha_palette(alphas), 0.8 / len(alphas)
    for k, alpha in enumerate(alphas):
        part = data[data["alpha"] == alpha]
        ax.bar(part["class"] + (k - (len(alphas) - 1) / 2) * width, part["mean"], width, color=palette[alpha],
               label=f"{alpha:g}")
    ax.set_xticks(sorted(data["class"].unique()))
    ax.set_xlabel("Class")
    ax.set_ylabel("Mean activation")
    ax.legend(title="α", fontsize="x-small", ncols=2)
    selectivity = ", ".join(f"α {a:g}: {s:.2f}" for a, s in data.groupby("alpha")["selectivity"].first().items())
    ax.set_title(f"layer {ex.value('layer')} unit {ex.value('unit')}, seed {seed}; SI {selectivity}", fontsize="small")
    return data, fig


def _highlighted(ax: Any, frame: pd.DataFrame, x: str, y: str, chosen: float | None) -> None:
    """One line per alpha (mean over the chosen seeds); the chosen alpha drawn bold."""
    means = frame.groupby(["alpha", x], as_index=False)[y].mean()
    palette = alpha_palette(means["alpha"])
    for alpha, part in means.groupby("alpha"):
        bold = chosen is None or alpha == chosen
        ax.plot(part[x], 100 * part[y], color=palette[alpha], linewidth=2.4 if bold else 0.9,
                alpha=1.0 if bold else 0.45, label=f"{alpha:g}")
    ax.set_ylabel("Accuracy (%)")
    ax.legend(title="α", fontsize="x-small", ncols=2)


def _attacks(ex: Explorer) -> tuple[Any, Any]:
    fgsm, pgd = ex.sweep.attack_curves(ex.seed)
    fig, axes = _figure(4.2, 3.2, columns=2)
    _highlighted(axes[0], fgsm, "epsilon", "accuracy", ex.alpha)
    axes[0].set_xlabel("FGSM ε (L∞)")
    _highlighted(axes[1], pgd, "step", "accuracy", ex.alpha)
    axes[1].set_xlabel("PGD step")
    fig.suptitle(f"{_runs_label(ex)}: the chosen α bold, the grid thin", fontsize="small")
    return (fgsm, pgd), fig


def _corruptions(ex: Explorer) -> tuple[Any, Any]:
    data = ex.sweep.corruption_grid(ex.alpha, ex.seed)
    fig, ax = _figure(5.0, 0.22 * len(data) + 1.0, margins=(1.4, 0.45, 0.1, 0.35))
    shown = ax.imshow(100 * data.to_numpy(), cmap="viridis", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(len(data.columns)), [str(c) for c in data.columns])
    ax.set_yticks(range(len(data)), list(data.index), fontsize="x-small")
    ax.set_xlabel("Severity")
    fig.colorbar(shown, ax=ax, label="accuracy (%)")
    ax.set_title(f"α {'all' if ex.alpha is None else f'{ex.alpha:g}'}, {_runs_label(ex)}", fontsize="small")
    return data, fig


def _dimensionality(ex: Explorer) -> tuple[Any, Any]:
    data = ex.sweep.pca_dimensionality(ex.seed, ex.value("threshold"))
    fig, ax = _figure()
    _layer_lines(ax, data, "dimensionality")
    ax.set_ylabel(f"PCA dimensionality (share of units)\nfor {100 * ex.value('threshold'):g}% of the variance")
    return data, fig


def _gradients(ex: Explorer) -> tuple[Any, Any]:
    data = ex.sweep.gradient_cv(ex.seed)
    fig, ax = _figure()
    _layer_lines(ax, data, "mean_cv_u")
    ax.set_ylabel("Mean CV of input-unit gradients")
    return data, fig


def _layer_lines(ax: Any, data: pd.DataFrame, value: str) -> None:
    """One line per alpha (mean over the chosen seeds) across layers: every alpha at once, so the
    panel need not be redrawn when another alpha is chosen."""
    means = data.groupby(["alpha", "layer"], as_index=False)[value].mean()
    palette = alpha_palette(means["alpha"])
    for alpha, part in means.groupby("alpha"):
        ax.plot(part["layer"], part[value], color=palette[alpha], marker="o", markersize=3, label=f"{alpha:g}")
    ax.set_xlabel("Layer")
    ax.legend(title="α", fontsize="x-small", ncols=2)


def _runs_label(ex: Explorer) -> str:
    return "all seeds" if ex.seed is None else f"seed {ex.seed}"


def _image(image: np.ndarray, title: str, width: float = 3.0, title_lines: int = 1) -> Figure:
    top = 0.15 + 0.15 * title_lines
    fig, ax = _figure(width, width * image.shape[0] / image.shape[1] + top, margins=(0.05, 0.05, 0.05, top))
    ax.imshow(image, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title, fontsize="x-small")
    return fig


def _unit_filter(ex: Explorer) -> tuple[Any, Any]:
    image = ex.pairs.unit_filter(ex.value("model"), ex.value("layer"), ex.value("unit"))
    if image is None:
        return None, HTML(f"<p>Filters are drawn for the first layer ({ex.pairs.layers()[0]}) only.</p>")
    return image, _image(image, f"{ex.model_label} {ex.value('layer')} #{ex.value('unit')}", 2.2)


def _top_images(ex: Explorer) -> tuple[Any, Any]:
    mosaic = ex.pairs.top_images(ex.value("model"), ex.value("layer"), ex.value("unit"))
    return mosaic, _image(mosaic, f"top probe images, {ex.model_label} {ex.value('layer')} #{ex.value('unit')}", 3.6)


def _label(ex: Explorer) -> tuple[Any, Any]:
    row, concepts = ex.pairs.unit_label(ex.value("model"), ex.value("layer"), ex.value("unit"))
    verdict = "interpretable" if row["interpretable"] else "not interpretable (IoU < 0.04)"
    text = (f"<p><b>{row['label']}</b> ({row['category']}), IoU {row['iou']:.3f}: {verdict}; "
            f"diversity {int(row['diversity'])} concepts at IoU &ge; 0.01</p>")
    return (row, concepts), HTML(text + concepts.to_html(index=False, float_format="{:.3f}".format))


def _ablation(ex: Explorer) -> tuple[Any, Any]:
    row, flipped, captions = ex.pairs.ablation(ex.value("model"), ex.value("layer"), ex.value("unit"))
    text = (f"<p>Zeroing it flips <b>{int(row['shape_score'])}</b> of the {int(row['shape_images'])} cue-conflict "
            f"images decided by shape (Shape score) and <b>{int(row['texture_score'])}</b> of the "
            f"{int(row['texture_images'])} decided by texture (Texture score).</p>")
    shown: list[Any] = [HTML(text)]
    for title, images in flipped.items():  # one mosaic per cue: one image to render, not one per flip
        names = ", ".join(captions[title][:4]) + (", ..." if len(captions[title]) > 4 else "")
        caption = f"{title.replace(chr(10), ' ')} (shape-texture):\n{names}"
        shown.append(_image(mosaic(images, len(images)), caption, 0.45 * len(images) + 0.6, title_lines=2))
    return (row, flipped), tuple(shown)


def _summary(ex: Explorer) -> tuple[Any, Any]:
    data = ex.pairs.model_summary()
    chosen = ex.pairs.runs.iloc[ex.value("model")]["model"]
    styled = data.style.format(precision=3).apply(
        lambda row: ["font-weight: bold" if row["model"] == chosen else "" for _ in row], axis=1).hide(axis="index")
    return data, HTML("<p>Shape bias (Table 2) and accuracy on each pair's correctly classified subset "
                      "(Table 3), means over seeds</p>" + styled.to_html())


PANELS = (
    Panel("selectivity", "Unit selectivity against the α = 0 baseline", SELECTIVITY,
          frozenset({"alpha", "seed", "layer"}), _selectivity),
    Panel("class_means", "The unit's class-conditional mean activations", SELECTIVITY,
          frozenset({"alpha", "seed", "layer", "unit"}), _class_means),
    Panel("attacks", "FGSM and PGD", SELECTIVITY, frozenset({"alpha", "seed"}), _attacks),
    Panel("corruptions", "Corruption x severity", SELECTIVITY, frozenset({"alpha", "seed"}), _corruptions),
    Panel("dimensionality", "PCA dimensionality per layer", SELECTIVITY, frozenset({"seed", "threshold"}),
          _dimensionality),
    Panel("gradients", "Input-unit gradient variability per layer", SELECTIVITY, frozenset({"seed"}), _gradients),
    Panel("filter", "The unit's filter", SHAPE_BIAS, frozenset({"model", "layer", "unit"}), _unit_filter),
    Panel("label", "Its Network Dissection label", SHAPE_BIAS, frozenset({"model", "layer", "unit"}), _label),
    Panel("top_images", "Its top-activating probe images", SHAPE_BIAS, frozenset({"model", "layer", "unit"}),
          _top_images),
    Panel("ablation", "Channel ablation: its Shape and Texture scores", SHAPE_BIAS,
          frozenset({"model", "layer", "unit"}), _ablation),
    Panel("summary", "The models: shape bias and Table 3", SHAPE_BIAS, frozenset({"model"}), _summary),
)
#: Panels drawn across the whole width, below the others (a table of every image type).
FULL_WIDTH = ("summary",)
#: The controls of each study, in the order they are shown (after study and group).
CONTROLS = {SELECTIVITY: ("alpha", "seed", "layer", "unit", "threshold"), SHAPE_BIAS: ("model", "layer", "unit")}


class Explorer:
    """Controls and panels over the cached results below ``runs_dir`` (the smoke pairs with
    ``smoke``); ``widget`` is what a notebook displays."""

    def __init__(self, runs_dir: str | Path | None = None, smoke: bool = False, data_dir: str | Path | None = None,
                 catalog: Catalog | None = None) -> None:
        self.settings = EvaluationSettings(smoke=smoke, data_root=None if data_dir is None else str(data_dir))
        self.catalog = catalog or find_catalog(runs_dir, smoke, data_dir)
        self.data: dict[str, Any] = {}
        self.seconds: dict[str, float] = {}
        self.errors: dict[str, str] = {}
        self._busy = False
        self._views: dict[tuple[str, str], SweepViews | PairViews] = {}
        self.outputs = {panel.key: widgets.Output() for panel in PANELS}
        self.controls: dict[str, widgets.Dropdown] = {
            "study": widgets.Dropdown(description="study", options=self.catalog.studies),
            "group": widgets.Dropdown(description="models"),
            **{name: widgets.Dropdown(description=name) for name in
               ("alpha", "seed", "layer", "unit", "threshold", "model")},
        }
        for name, control in self.controls.items():
            control.observe(lambda change, name=name: self._changed(name), names="value")
        self.widget = widgets.VBox([widgets.HBox([self.controls["study"], self.controls["group"]]),
                                    widgets.HBox([self.controls[n] for n in ("alpha", "seed", "model")]),
                                    widgets.HBox([self.controls[n] for n in ("layer", "unit", "threshold")]),
                                    *self._panel_boxes()])
        if not self.catalog.studies:
            self.message = ("No trained runs found: train them with `make reproduce` (or `selrob reproduce --smoke`) "
                            "and open the explorer again.")
        else:
            self.message = ""
            self._changed("study")

    def _panel_boxes(self) -> list[widgets.Widget]:
        boxes = []
        for panel in PANELS:
            box = widgets.VBox([widgets.HTML(f"<h4>{panel.title}</h4>"), self.outputs[panel.key]])
            box.add_class(f"selrob-panel-{panel.key}")  # for the browser test to find each panel
            boxes.append(box)
        self._boxes = dict(zip((p.key for p in PANELS), boxes))
        halves = [box for panel, box in zip(PANELS, boxes) if panel.key not in FULL_WIDTH]
        return [widgets.GridBox(halves, layout=widgets.Layout(grid_template_columns="repeat(2, 50%)")),
                *(self._boxes[key] for key in FULL_WIDTH)]

    # The chosen values, as the views take them.
    def value(self, name: str) -> Any:
        return self.controls[name].value

    @property
    def study(self) -> str:
        return str(self.value("study"))

    @property
    def alpha(self) -> float | None:
        return None if self.value("alpha") == ALL else float(self.value("alpha"))

    @property
    def seed(self) -> int | None:
        return None if self.value("seed") == ALL else int(self.value("seed"))

    @property
    def sweep(self) -> SweepViews:
        view = self._view()
        assert isinstance(view, SweepViews)
        return view

    @property
    def pairs(self) -> PairViews:
        view = self._view()
        assert isinstance(view, PairViews)
        return view

    @property
    def model_label(self) -> str:
        return dict((index, label) for label, index in self.pairs.models())[self.value("model")]

    def _view(self) -> SweepViews | PairViews:
        key = (self.study, str(self.value("group")))
        if key not in self._views:
            groups = self.catalog.sweeps if self.study == SELECTIVITY else self.catalog.pairs
            kind = SweepViews if self.study == SELECTIVITY else PairViews
            self._views[key] = kind(groups[key[1]], self.settings)
        return self._views[key]

    def _set_options(self, name: str, options: list[Any]) -> None:
        """New options for a control, keeping its value where it is still one of them."""
        control = self.controls[name]
        values = [o[1] if isinstance(o, tuple) else o for o in options]
        previous = control.value
        control.options = options
        control.value = previous if previous in values else (values[0] if values else None)

    def _refill(self, names: Iterable[str]) -> None:
        """New options for the controls ``names`` that follow from the controls above them."""
        for name in names:
            try:
                self._set_options(name, self._options(name))
            except SelrobError:  # what it reads is not cached: the panels say which command computes it
                self._set_options(name, [])

    def _options(self, name: str) -> list[Any]:
        if name == "group":
            return list((self.catalog.sweeps if self.study == SELECTIVITY else self.catalog.pairs))
        if self.study == SELECTIVITY:
            sweep = self.sweep
            if name == "alpha":
                return [*(f"{a:g}" for a in sweep.alphas), ALL]
            if name == "seed":
                return [ALL, *(str(s) for s in sweep.seeds)]
            if name == "layer":
                return sweep.layers()
            if name == "unit":
                return list(range(sweep.units(self.value("layer")))) if self.value("layer") is not None else []
            if name == "threshold":
                return [(f"{100 * t:g}%", t) for t in sweep.thresholds()]
        else:
            pairs = self.pairs
            if name == "model":
                return pairs.models()
            if name == "layer":
                return pairs.layers()
            if name == "unit":
                return list(range(pairs.units(self.value("model"), self.value("layer"))))
        return []

    def _changed(self, name: str) -> None:
        """A control changed: refill the controls below it, then redraw the panels depending on it."""
        if self._busy:
            return
        self._busy = True
        try:
            changed = {name}
            if name in ("study", "group"):
                order = ["group", *CONTROLS[self.study]] if name == "study" else list(CONTROLS[self.study])
                self._refill(order)
                self._show_study()
                changed = set(CONTROLS[self.study]) | {"group"}
            elif name in ("layer", "model"):
                self._refill(["unit"] if name == "layer" or self.study == SHAPE_BIAS else [])
                changed |= {"unit"}
        finally:
            self._busy = False
        self.redraw(changed)

    def _show_study(self) -> None:
        for name in ("alpha", "seed", "layer", "unit", "threshold", "model"):
            self.controls[name].layout.display = "" if name in CONTROLS[self.study] else "none"
        for panel in PANELS:
            self._boxes[panel.key].layout.display = "" if panel.study == self.study else "none"

    def redraw(self, changed: Iterable[str]) -> None:
        """Redraw the panels of the current study that depend on a control in ``changed`` (or on
        the group, which every panel does)."""
        changed = set(changed)
        for panel in PANELS:
            if panel.study != self.study or not (panel.depends & changed or "group" in changed):
                continue
            started = time.perf_counter()
            output = self.outputs[panel.key]
            try:
                data, shown = panel.draw(self)
                self.data[panel.key] = data
                self.errors.pop(panel.key, None)
            except SelrobError as error:
                self.data[panel.key], shown = None, HTML(f"<p><b>Not available:</b> {error}</p>")
                self.errors[panel.key] = str(error)
            items = [_png(item) if isinstance(item, Figure) else item
                     for item in (shown if isinstance(shown, tuple) else (shown,))]
            output.clear_output(wait=True)
            with output:
                for item in items:
                    display(item)
            self.seconds[panel.key] = time.perf_counter() - started

    def show(self) -> None:
        """Display the explorer (in a notebook)."""
        if self.message:
            display(HTML(f"<p>{self.message}</p>"))
        display(self.widget)
