"""Input-unit gradient statistics of a model source (section 4.3, appendix A.8; Figure 3,
A17-A19), cached per source: per ReLU layer, :func:`unit_gradient_statistics` of the gradients of
every unit on the clean test images (the first N of them when the :data:`SAMPLES` parameter gives N)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from selrob.data.batches import to_unit_float
from selrob.device import resolve_device
from selrob.evaluations.common import entry
from selrob.errors import SelrobError
from selrob.evaluations.registry import Evaluation, EvaluationContext, ParameterGroup, register, register_parameters
from selrob.measures.unit_gradients import input_unit_gradient_norms, unit_gradient_statistics
from selrob.store.cache import CacheEntry
from selrob.store.sources import ModelSource

STATISTICS = ("mu_l", "sigma_l", "cv_l", "mean_sigma_u", "mean_cv_u", "dead_units")


def _add_flags(parser: Any) -> None:
    parser.add_argument("--samples", type=int, help="unit gradients on the first N test images (default: all)")


def _checked(samples: int | None) -> int | None:
    """``samples`` if it is none or at least 2 (a standard deviation needs two), else one line."""
    if samples is not None and samples < 2:
        raise SelrobError(f"unit-gradient statistics need at least 2 samples, got {samples}")
    return samples


#: How many test images the input-unit gradients are taken on (the first ones; ``None``: all).
SAMPLES = register_parameters(ParameterGroup(
    "unit_gradient_samples", default=lambda dataset, smoke: None, add_flags=_add_flags,
    from_flags=lambda args: _checked(args.samples),
    flags_of=lambda samples: "" if samples is None else f" --samples {samples}", check=_checked))


def samples_of(context: EvaluationContext) -> int | None:
    """The number of test images of ``context``'s unit gradients (``None``: all)."""
    return context.parameter(SAMPLES)


def unit_gradient_entry(source: ModelSource, context: EvaluationContext) -> CacheEntry:
    return entry(source, "unit-gradients", {"samples": samples_of(context),
                                            "measure": "l2 norm of d unit / d input on [0, 1] images, population std"})


def evaluate_unit_gradients(source: ModelSource, context: EvaluationContext) -> list[dict[str, Any]]:
    """One :func:`unit_gradient_statistics` dict per ReLU layer (with its ``units``)."""

    def compute() -> list[dict[str, Any]]:
        device = resolve_device(context.device)
        model = source.load_model(device)
        images = to_unit_float(source.test_set(context.data_root).head(samples_of(context))
                               .images.to(device))
        return [{"units": int(layer.shape[1]), **unit_gradient_statistics(layer.cpu())}
                for layer in input_unit_gradient_norms(model, images, layers=source.unit_layers)]

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
    parameters=(SAMPLES,),
))
