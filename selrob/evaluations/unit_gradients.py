"""Input-unit gradient statistics of a model source (section 4.3, appendix A.8; Figure 3,
A17-A19), cached per source: per ReLU layer, :func:`unit_gradient_statistics` of the gradients of
every unit on the clean test images (the first ``unit_gradient_samples`` of them, when given)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from selrob.data.batches import to_unit_float
from selrob.device import resolve_device
from selrob.evaluations.common import entry
from selrob.evaluations.registry import Evaluation, EvaluationContext, register
from selrob.measures.unit_gradients import input_unit_gradient_norms, unit_gradient_statistics
from selrob.store.cache import CacheEntry
from selrob.store.sources import ModelSource

STATISTICS = ("mu_l", "sigma_l", "cv_l", "mean_sigma_u", "mean_cv_u", "dead_units")


def unit_gradient_entry(source: ModelSource, context: EvaluationContext) -> CacheEntry:
    return entry(source, "unit-gradients", {"samples": context.settings.unit_gradient_samples,
                                            "measure": "l2 norm of d unit / d input on [0, 1] images, population std"})


def evaluate_unit_gradients(source: ModelSource, context: EvaluationContext) -> list[dict[str, Any]]:
    """One :func:`unit_gradient_statistics` dict per ReLU layer (with its ``units``)."""

    def compute() -> list[dict[str, Any]]:
        device = resolve_device(context.device)
        model = source.load_model(device)
        images = to_unit_float(source.test_set(context.data_root).head(context.settings.unit_gradient_samples)
                               .images.to(device))
        return [{"units": int(layer.shape[1]), **unit_gradient_statistics(layer.cpu())}
                for layer in input_unit_gradient_norms(model, images)]

    return unit_gradient_entry(source, context).get_or_compute(compute)


def unit_gradient_rows(layers: list[dict[str, Any]], context: EvaluationContext) -> Iterator[dict[str, Any]]:
    """``mu_l`` mean gradient, ``sigma_l`` / ``cv_l`` across units, ``mean_sigma_u`` / ``mean_cv_u``
    within units (means over the layer's units)."""
    for index, layer in enumerate(layers):
        yield {"layer": index, "units": layer["units"], **{name: layer[name] for name in STATISTICS}}


UNIT_GRADIENTS = register(Evaluation(
    name="unit-gradients", description="variability of input-unit gradients per layer (Figure 3, A17-A19)",
    columns=("layer", "units", *STATISTICS), value="mean_cv_u", evaluate=evaluate_unit_gradients,
    rows=unit_gradient_rows, is_cached=lambda source, context: unit_gradient_entry(source, context).exists(),
    headline_label="mean over layers",
))
