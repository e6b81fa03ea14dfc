"""The explorer's views of the second paper (study ``shape_bias``): the data behind each panel for
a chosen S / R pair architecture, model (S or R, and seed), dissected layer and unit, read from
the cached evaluations only (a missing one is a :class:`~selrob.errors.SelrobError` naming the
command that computes it), the panels drawn from them and the study's entry in the explorer
(:data:`SHAPE_BIAS`). Tables are read once per architecture and kept; a unit's images once per
unit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd
from IPython.display import HTML
from matplotlib.figure import Figure

from selrob.evaluations.channel_ablation import cue_conflict_images
from selrob.evaluations.dissection import probe_concepts
from selrob.evaluations.registry import EvaluationContext, EvaluationSettings
from selrob.explorer.panels import Panel, StudyViews, figure
from selrob.tables import channel_ablation, dissection, distorted_images, robust_pairs, smoothness
from selrob.tables.dissection import mosaic
from selrob.tables.evaluations import cached_result, source_of

if TYPE_CHECKING:
    from selrob.explorer.app import Explorer

T = TypeVar("T")
#: How many of a unit's concepts the label view lists, by IoU.
TOP_CONCEPTS = 8


class PairViews:
    """The views of the S and R models of one architecture (``runs``: their rows of
    :func:`selrob.tables.robust_pairs.load_pairs`)."""

    def __init__(self, runs: pd.DataFrame, settings: EvaluationSettings | None = None) -> None:
        self.runs = robust_pairs.ordered(runs.reset_index(drop=True), ("training", "seed")).reset_index(drop=True)
        self.settings = settings or EvaluationSettings()
        self._memo: dict[tuple[Any, ...], Any] = {}

    def _once(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def models(self) -> list[tuple[str, int]]:
        """(label, row) of every model: "alexnet_small R, seed 0"."""
        return [(f"{row['model']}" + ("" if pd.isna(row.get("seed")) else f", seed {int(row['seed'])}"), index)
                for index, row in self.runs.iterrows()]

    def layers(self) -> list[str]:
        """The dissected layers, as the tables name them."""
        return [name.removeprefix("backbone.") for name in source_of(self.runs.iloc[0]).dissected_layers]

    def unit_table(self) -> pd.DataFrame:
        """Every unit's Network Dissection label, category, IoU and diversity."""
        return self._once(("units",), lambda: dissection.unit_table(self.runs, self.settings, evaluate=False))

    def scores(self) -> pd.DataFrame:
        """Every unit's Shape and Texture scores with its label."""
        return self._once(("scores",), lambda: channel_ablation.unit_scores(
            channel_ablation.ablation_table(self.runs, self.settings, evaluate=False), self.unit_table()))

    def units(self, model: int, layer: str) -> int:
        """How many units ``layer`` of ``model`` has."""
        rows = dissection.rows_of(self.unit_table(), self.runs.iloc[model])
        return int((rows["layer"] == layer).sum())

    def unit_filter(self, model: int, layer: str, unit: int) -> np.ndarray | None:
        """The unit's first-layer conv filter as a k x k x 3 uint8 image (scaled from its minimum
        to its maximum), or None for a unit of a later layer."""
        if layer != self.layers()[0]:
            return None
        filters = self._once(("filters", model), lambda: smoothness.first_layer_filters(self.runs.iloc[model]))
        return smoothness.filter_images(filters[unit : unit + 1])[0]

    def unit_label(self, model: int, layer: str, unit: int) -> tuple[pd.Series, pd.DataFrame]:
        """The unit's dissection row (label, category, IoU, interpretable, diversity) and its
        :data:`TOP_CONCEPTS` concepts of highest IoU (columns concept, category, iou)."""
        run = self.runs.iloc[model]
        rows = dissection.rows_of(self.unit_table(), run)
        row = rows[(rows["layer"] == layer) & (rows["unit"] == unit)].iloc[0]
        source = source_of(run)
        cells = self._once(("dissection", model), lambda: cached_result("dissection", source, self.settings, evaluate=False))
        iou = np.asarray(cells[dissection.dissected_layer(source, layer)]["iou"][unit], dtype=float)
        concepts = probe_concepts(source.dataset, EvaluationContext(source.dataset, self.settings))
        best = np.argsort(-iou, kind="stable")[:TOP_CONCEPTS]
        return row, pd.DataFrame({"concept": [concepts.names[k] for k in best],
                                  "category": [concepts.category[k] for k in best], "iou": iou[best]})

    def top_images(self, model: int, layer: str, unit: int) -> np.ndarray:
        """The unit's top probe images as one mosaic, dimmed outside the region it detects."""
        return self._once(("top", model, layer, unit), lambda: dissection.unit_top_images(
            self.runs.iloc[model], layer, unit, self.settings, evaluate=False))

    def ablation(self, model: int, layer: str, unit: int) -> tuple[pd.Series, dict[str, np.ndarray], dict[str, list[str]]]:
        """The unit's ablation scores (shape_score, texture_score, shape_images, texture_images)
        and the cue-conflict images whose decision it flips, by cue, with their captions."""
        run = self.runs.iloc[model]
        rows = dissection.rows_of(self.scores(), run)
        row = rows[(rows["layer"] == layer) & (rows["unit"] == unit)].iloc[0]
        dataset = source_of(run).dataset
        images = self._once(("cue-conflict",), lambda: cue_conflict_images(dataset, EvaluationContext(dataset, self.settings)))
        flipped, captions = self._once(("flipped", model, layer, unit), lambda: channel_ablation.flipped_images(
            run, layer, unit, self.settings, evaluate=False, images=images))
        return row, flipped, captions

    def model_summary(self) -> pd.DataFrame:
        """Per model: its shape bias (Table 2, mean over seeds) and Table 3's accuracies on its
        pair's correctly classified subset, one row per model."""
        def compute() -> pd.DataFrame:
            bias = robust_pairs.per_run_shape_bias(self.runs, self.settings, evaluate=False)
            means = bias.groupby("model", as_index=False, sort=False)["shape"].mean().rename(columns={"shape": "shape_bias"})
            table = distorted_images.distorted_accuracy_table(self.runs, self.settings, evaluate=False)
            values = [c for c in table.columns if c not in ("pair", "arch", "model", "training", "seeds", "images")
                      and not c.endswith(("_ci_low", "_ci_high"))]
            return means.merge(table[["model", *values]], on="model")

        return self._once(("summary",), compute)


def _pairs(ex: Explorer) -> PairViews:
    """The views of the chosen architecture's models, which the panels draw."""
    views = ex.views
    assert isinstance(views, PairViews)
    return views


def _model_label(ex: Explorer) -> str:
    """The chosen model, as its control names it."""
    return dict((index, label) for label, index in _pairs(ex).models())[ex.value("model")]


def _image(image: np.ndarray, title: str, width: float = 3.0, title_lines: int = 1) -> Figure:
    """``image`` alone in a figure ``width`` inches wide, under a title of ``title_lines`` lines."""
    top = 0.15 + 0.15 * title_lines
    fig, ax = figure(width, width * image.shape[0] / image.shape[1] + top, margins=(0.05, 0.05, 0.05, top))
    ax.imshow(image, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title, fontsize="x-small")
    return fig


def _unit_filter(ex: Explorer) -> tuple[Any, Any]:
    image = _pairs(ex).unit_filter(ex.value("model"), ex.value("layer"), ex.value("unit"))
    if image is None:
        return None, HTML(f"<p>Filters are drawn for the first layer ({_pairs(ex).layers()[0]}) only.</p>")
    return image, _image(image, f"{_model_label(ex)} {ex.value('layer')} #{ex.value('unit')}", 2.2)


def _top_images(ex: Explorer) -> tuple[Any, Any]:
    mosaic = _pairs(ex).top_images(ex.value("model"), ex.value("layer"), ex.value("unit"))
    return mosaic, _image(mosaic, f"top probe images, {_model_label(ex)} {ex.value('layer')} #{ex.value('unit')}", 3.6)


def _label(ex: Explorer) -> tuple[Any, Any]:
    row, concepts = _pairs(ex).unit_label(ex.value("model"), ex.value("layer"), ex.value("unit"))
    verdict = "interpretable" if row["interpretable"] else "not interpretable (IoU < 0.04)"
    text = (f"<p><b>{row['label']}</b> ({row['category']}), IoU {row['iou']:.3f}: {verdict}; "
            f"diversity {int(row['diversity'])} concepts at IoU &ge; 0.01</p>")
    return (row, concepts), HTML(text + concepts.to_html(index=False, float_format="{:.3f}".format))


def _ablation(ex: Explorer) -> tuple[Any, Any]:
    row, flipped, captions = _pairs(ex).ablation(ex.value("model"), ex.value("layer"), ex.value("unit"))
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
    data = _pairs(ex).model_summary()
    chosen = _pairs(ex).runs.iloc[ex.value("model")]["model"]
    styled = data.style.format(precision=3).apply(
        lambda row: ["font-weight: bold" if row["model"] == chosen else "" for _ in row], axis=1).hide(axis="index")
    return data, HTML("<p>Shape bias (Table 2) and accuracy on each pair's correctly classified subset "
                      "(Table 3), means over seeds</p>" + styled.to_html())


def _options(ex: Explorer, name: str) -> list[Any]:
    """The options of control ``name``: the models, their dissected layers and a layer's units."""
    pairs = _pairs(ex)
    if name == "model":
        return pairs.models()
    if name == "layer":
        return pairs.layers()
    if name == "unit":
        return list(range(pairs.units(ex.value("model"), ex.value("layer"))))
    return []


#: The second paper in the explorer: its S / R models per architecture, controls and panels.
SHAPE_BIAS = StudyViews(
    name="shape_bias",
    rows=(("model",), ("layer", "unit")),
    groups=lambda catalog: catalog.pairs,
    views=PairViews,
    options=_options,
    refills={"model": ("unit",), "layer": ("unit",)},
    panels=(
        Panel("filter", "The unit's filter", frozenset({"model", "layer", "unit"}), _unit_filter),
        Panel("label", "Its Network Dissection label", frozenset({"model", "layer", "unit"}), _label),
        Panel("top_images", "Its top-activating probe images", frozenset({"model", "layer", "unit"}), _top_images),
        Panel("ablation", "Channel ablation: its Shape and Texture scores", frozenset({"model", "layer", "unit"}),
              _ablation),
        Panel("summary", "The models: shape bias and Table 3", frozenset({"model"}), _summary, full_width=True),
    ),
)
