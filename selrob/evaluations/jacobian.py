"""Network stability: the mean input-output Jacobian norm over the test set (section 4.2, Figure
2c, A12c, A13c; the measure is :func:`selrob.measures.jacobian.input_output_jacobian_norm`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from selrob.data.batches import iterate_batches, to_unit_float
from selrob.evaluations.common import BATCH_SIZE, entry, model_and_test_set
from selrob.evaluations.registry import Evaluation, EvaluationContext, register
from selrob.measures.jacobian import input_output_jacobian_norm
from selrob.store.cache import CacheEntry
from selrob.store.sources import ModelSource


def jacobian_entry(source: ModelSource) -> CacheEntry:
    return entry(source, "jacobian", {"measure": "input-output jacobian frobenius"})


def evaluate_jacobian(source: ModelSource, context: EvaluationContext) -> dict[str, Any]:
    """Mean and standard deviation over the test set of the per-sample Jacobian norm."""

    def compute() -> dict[str, Any]:
        model, data = model_and_test_set(source, context)
        norms = torch.cat([input_output_jacobian_norm(model, to_unit_float(images))
                           for images, _ in iterate_batches(data, BATCH_SIZE)])
        return {"mean": float(norms.mean()), "std": float(norms.std()), "samples": len(norms)}

    return jacobian_entry(source).get_or_compute(compute)


def jacobian_rows(result: dict[str, Any], context: EvaluationContext) -> Iterator[dict[str, Any]]:
    yield {"jacobian_norm": result["mean"], "jacobian_norm_std": result["std"]}


JACOBIAN = register(Evaluation(
    name="jacobian", description="mean l2 norm of the input-output Jacobian (Figure 2c, A12c, A13c)",
    columns=("jacobian_norm", "jacobian_norm_std"), value="jacobian_norm", evaluate=evaluate_jacobian,
    rows=jacobian_rows, is_cached=lambda source, context: jacobian_entry(source).exists(),
))
