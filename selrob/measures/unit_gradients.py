"""Stability of units (section 3 "Approach", 4.3, appendix A.8; Figure 3, A17-A19): the input-unit
gradient and its coefficient of variation within and across units.

For unit u and sample n, g_un = || d a_u(x_n) / d x_n ||_2, on [0, 1] images (normalisation is
inside the model, as for the attacks). Per unit: mu_u and sigma_u across samples and
CV_u = sigma_u / mu_u. Per layer: mu_l = mean of mu_u, sigma_l = std of mu_u, CV_l = sigma_l / mu_l.
Standard deviations are population ones (``ddof=0``, as ``scipy.stats.variation``). A dead unit
(mu_u = 0) has no CV_u; it is NaN and left out of means of CV_u.

In eval mode samples do not interact, so derivatives of a batch-sum hold every sample's own.
Two exact ways compute all units' gradients without materialising units x samples x pixels:

* ``"reverse"``: one backward pass of each unit's batch-sum gives that unit's gradient for every
  sample; ``units_per_pass`` units share one pass (``is_grads_batched``).
* ``"forward"``: one forward-mode pass per input pixel (the same pixel of every sample) gives
  that pixel's column of every unit's gradient; ``pixels_per_pass`` pixels share a pass (vmap),
  and squared columns are summed. Cheaper when images have fewer pixels than the network has
  units (8x8 digits: 64 pixels against ResNet20's 688 units).

``"auto"`` picks the one with fewer passes.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from selrob.measures.units import UnitRecorder
from selrob.attacks.common import eval_mode

Mode = Literal["auto", "reverse", "forward"]


@contextlib.contextmanager
def _frozen(model: nn.Module) -> Iterator[None]:
    """No parameter gradients (only input gradients are needed), restored afterwards."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for parameter, _ in flags:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in flags:
            parameter.requires_grad_(flag)


def input_unit_gradient_norms(
    model: nn.Module,
    images: torch.Tensor,
    mode: Mode = "auto",
    batch_size: int = 128,
    units_per_pass: int = 1,
    pixels_per_pass: int = 16,
    layers: Sequence[str] | None = None,
) -> list[torch.Tensor]:
    """g_un for every unit of every ReLU layer (or of ``layers``,
    :class:`~selrob.measures.units.UnitRecorder`): one float32 (samples, units) tensor per layer.

    ``images`` are (N, C, H, W) in [0, 1] on the model's device, taken ``batch_size`` at a time.
    ``units_per_pass`` > 1 shares reverse-mode passes among units; one per pass is the default,
    since sharing measured no faster on an H100 and slower on a CPU
    (``benchmarks/analysis_throughput.py``).
    """
    if mode not in ("auto", "reverse", "forward"):
        raise ValueError(f"mode must be auto, reverse or forward, got {mode!r}")
    with eval_mode(model), _frozen(model), torch.enable_grad():
        widths = _layer_widths(model, images[:1], layers)
        if mode == "auto":
            mode = "forward" if images[0].numel() < sum(widths) else "reverse"
        parts = [
            _reverse(model, batch, units_per_pass, layers) if mode == "reverse"
            else _forward(model, batch, pixels_per_pass, widths, layers)
            for batch in images.split(batch_size)
        ]
    return [torch.cat([part[layer] for part in parts]) for layer in range(len(widths))]


def _layer_widths(model: nn.Module, probe: torch.Tensor, layers: Sequence[str] | None) -> list[int]:
    with torch.no_grad(), UnitRecorder(model, layers) as recorder:
        model(probe)
    return [a.shape[1] for a in recorder.activations]


def _reverse(model: nn.Module, images: torch.Tensor, units_per_pass: int, layers: Sequence[str] | None) -> list[torch.Tensor]:
    x = images.detach().clone().requires_grad_(True)
    with UnitRecorder(model, layers) as recorder:
        model(x)
    activations = recorder.activations
    norms = []
    for index, layer in enumerate(activations):
        columns = []
        for start in range(0, layer.shape[1], units_per_pass):
            units = torch.arange(start, min(layer.shape[1], start + units_per_pass), device=x.device)
            last = index == len(activations) - 1 and units[-1] == layer.shape[1] - 1
            if len(units) == 1:
                (grad,) = torch.autograd.grad(layer[:, units[0]].sum(), x, retain_graph=not last)
                columns.append(grad.flatten(1).norm(dim=1)[:, None])
                continue
            # One-hot output gradients, one row per unit: vmap runs the backward pass for each.
            selectors = torch.zeros(len(units), *layer.shape, device=x.device)
            selectors[torch.arange(len(units)), :, units] = 1
            (grads,) = torch.autograd.grad(layer, x, selectors, retain_graph=not last, is_grads_batched=True)
            columns.append(grads.flatten(2).norm(dim=2).T)
        norms.append(torch.cat(columns, dim=1).float())
    return norms


def _forward(model: nn.Module, images: torch.Tensor, pixels_per_pass: int, widths: list[int],
             layers: Sequence[str] | None) -> list[torch.Tensor]:
    recorder = UnitRecorder(model, layers)

    def units(x: torch.Tensor) -> torch.Tensor:
        with recorder:
            model(x)
            return torch.cat(recorder.activations, dim=1)

    pixels = images[0].numel()
    squared = torch.zeros(images.shape[0], sum(widths), dtype=torch.float64, device=images.device)
    x = images.detach()
    with warnings.catch_warnings():
        # vmap falls back to a loop for one op of adaptive average pooling and says so; torch.func
        # itself warns that it still scripts a helper.
        warnings.filterwarnings("ignore", message="There is a performance drop")
        warnings.filterwarnings("ignore", message=".*torch.jit.script.*deprecated", category=FutureWarning)
        from torch.func import jvp, vmap

        for start in range(0, pixels, pixels_per_pass):
            chosen = torch.arange(start, min(pixels, start + pixels_per_pass), device=x.device)
            tangents = torch.zeros(len(chosen), *x.shape, device=x.device)
            tangents.view(len(chosen), x.shape[0], -1)[torch.arange(len(chosen)), :, chosen] = 1
            columns = vmap(lambda tangent: jvp(units, (x,), (tangent,))[1])(tangents)
            squared += columns.double().pow(2).sum(dim=0)
    return [part.sqrt().float() for part in squared.split(widths, dim=1)]


def unit_gradient_statistics(norms: torch.Tensor | np.ndarray) -> dict[str, Any]:
    """Approach 3's statistics of one layer's g_un (samples x units): per unit ``mu_u``,
    ``sigma_u``, ``cv_u`` (lists) and per layer ``mu_l``, ``sigma_l``, ``cv_l``, plus the mean
    ``sigma_u``, the mean ``cv_u`` over live units and the number of dead units."""
    g = np.asarray(norms, dtype=np.float64)
    mu_u = g.mean(axis=0)
    sigma_u = g.std(axis=0)
    live = mu_u > 0
    cv_u = np.divide(sigma_u, mu_u, out=np.full_like(mu_u, np.nan), where=live)
    mu_l, sigma_l = float(mu_u.mean()), float(mu_u.std())
    return {
        "mu_u": mu_u.tolist(), "sigma_u": sigma_u.tolist(), "cv_u": cv_u.tolist(),
        "mu_l": mu_l, "sigma_l": sigma_l, "cv_l": sigma_l / mu_l if mu_l > 0 else float("nan"),
        "mean_sigma_u": float(sigma_u.mean()),
        "mean_cv_u": float(np.nanmean(cv_u)) if live.any() else float("nan"),
        "dead_units": int((~live).sum()),
    }
