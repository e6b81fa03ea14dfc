"""Per-unit class selectivity of a model source (section 3, Eq. 1; the distributions behind
Figure 1 and A11, and the explorer's unit views), cached per source: for every ReLU layer the
class-conditional mean activation of each unit over the test set and its selectivity index."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from selrob.data import dataset_info
from selrob.errors import SelrobError
from selrob.evaluations.common import entry, model_and_test_set
from selrob.evaluations.registry import Evaluation, EvaluationContext, register
from selrob.measures.evaluate import layer_class_means
from selrob.measures.selectivity import class_selectivity_index
from selrob.store.cache import CacheEntry
from selrob.store.sources import ModelSource


def unit_selectivity_entry(source: ModelSource) -> CacheEntry:
    return entry(source, "unit-selectivity", {"measure": "class selectivity index, eps 0, test set",
                                              "activation": "spatial mean of each post-ReLU channel"})


def evaluate_unit_selectivity(source: ModelSource, context: EvaluationContext) -> list[dict[str, Any]]:
    """One dict per ReLU layer: its ``name``, the (classes x units) ``class_means`` and each
    unit's ``selectivity``."""

    def compute() -> list[dict[str, Any]]:
        model, data = model_and_test_set(source, context)
        means = layer_class_means(model, data, dataset_info(source.dataset).num_classes, layers=source.unit_layers)
        negative = next((name for name, layer in zip(means.layer_names, means.class_means) if bool((layer < 0).any())), None)
        if negative is not None:  # a GELU network's stage outputs, say: Eq. 1 is not defined on them
            raise SelrobError(f"class selectivity (Eq. 1) needs non-negative (post-ReLU) units; layer {negative} of "
                              f"{source.name} has negative class means: register post-ReLU layers with --layers")
        present = means.counts > 0
        return [{"name": name, "class_means": layer.tolist(),
                 "selectivity": class_selectivity_index(layer, present).tolist()}
                for name, layer in zip(means.layer_names, means.class_means)]

    return unit_selectivity_entry(source).get_or_compute(compute)


def unit_selectivity_rows(layers: list[dict[str, Any]], context: EvaluationContext) -> Iterator[dict[str, Any]]:
    for index, layer in enumerate(layers):
        for unit, value in enumerate(layer["selectivity"]):
            yield {"layer": index, "layer_name": layer["name"], "unit": unit, "selectivity": value}


UNIT_SELECTIVITY = register(Evaluation(
    name="unit-selectivity", description="class selectivity index and class means of every unit (Eq. 1, Figure 1)",
    columns=("layer", "layer_name", "unit", "selectivity"), value="selectivity", evaluate=evaluate_unit_selectivity,
    rows=unit_selectivity_rows, is_cached=lambda source, context: unit_selectivity_entry(source).exists(),
    headline_label="mean over units",
))
