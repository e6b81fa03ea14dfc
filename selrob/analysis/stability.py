"""Input-unit gradient statistics of a trained run (section 4.3, appendix A.8; Figure 3,
A17-A19), cached in its run folder: per layer, :func:`unit_gradient_statistics` of the gradients
of every unit on the clean test images (the first ``samples`` of them, when given)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from selrob.analysis.cache import cached_result
from selrob.analysis.unit_gradients import input_unit_gradient_norms, unit_gradient_statistics
from selrob.data.batches import to_unit_float
from selrob.device import resolve_device
from selrob.errors import SelrobError
from selrob.runs import Run


def evaluate_unit_gradients(run: Run, samples: int | None = None, data_root: str | Path | None = None,
                            device: str | torch.device | None = None) -> list[dict[str, Any]]:
    """One :func:`unit_gradient_statistics` dict per ReLU layer (with its ``units``)."""
    if samples is not None and samples < 2:
        raise SelrobError(f"unit-gradient statistics need at least 2 samples, got {samples}")

    def compute() -> list[dict[str, Any]]:
        target = resolve_device(device)
        model = run.load_model(target)
        images = to_unit_float(run.test_set(data_root).head(samples).images.to(target))
        return [{"units": int(layer.shape[1]), **unit_gradient_statistics(layer.cpu())}
                for layer in input_unit_gradient_norms(model, images)]

    params = {"samples": samples, "measure": "l2 norm of d unit / d input on [0, 1] images, population std"}
    return cached_result(run.evaluations_dir, "unit-gradients", params, compute)
