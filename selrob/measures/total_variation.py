"""Total variation (Rudin et al. 1992) as the second paper measures smoothness (section 3.3.1,
Table 4, Figs 3, A5, A27; its repository's ``tv_obs.py``): anisotropic and L1, summed over each
2-D map, ``sum |x[i+1, j] - x[i, j]| + sum |x[i, j+1] - x[i, j]|``, not normalised by size.
A constant map has TV 0; a +-1 checkerboard on n x n has 4 n (n - 1).

* Kernels (Table 4, Fig A27): every 2-D slice (one input channel of one filter) of a conv layer's
  weights, averaged per layer (:func:`kernel_total_variation`).
* Activation maps (Fig 3, A5): per post-ReLU channel, the TV of its map on each image, averaged
  over the images (:func:`channel_total_variation`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd
import torch
from torch import nn

from selrob.attacks.common import eval_mode
from selrob.errors import SelrobError
from selrob.measures.units import MapRecorder


def total_variation(maps: torch.Tensor) -> torch.Tensor:
    """Anisotropic L1 total variation of each 2-D map in ``maps`` (..., H, W) -> (...)."""
    if maps.dim() < 2:
        raise SelrobError(f"total variation needs maps of at least 2 dimensions (H, W), got shape {tuple(maps.shape)}")
    down = (maps[..., 1:, :] - maps[..., :-1, :]).abs().sum(dim=(-2, -1))
    right = (maps[..., :, 1:] - maps[..., :, :-1]).abs().sum(dim=(-2, -1))
    return down + right


def conv_layers(model: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """Every 2-D convolution of ``model`` with a kernel larger than 1 x 1, in module order
    (a 1 x 1 kernel has no neighbours, hence no variation)."""
    return [(name, module) for name, module in model.named_modules()
            if isinstance(module, nn.Conv2d) and module.kernel_size[0] * module.kernel_size[1] > 1]


def kernel_total_variation(model: nn.Module) -> pd.DataFrame:
    """Table 4 / Fig A27: per conv layer (``layer``, in order, ``depth`` from 1), the mean TV of
    its kernels' 2-D slices (``mean_tv``) over ``kernels`` = out channels x in channels / groups,
    and the kernel size."""
    rows = []
    for depth, (name, conv) in enumerate(conv_layers(model), start=1):
        weights = conv.weight.detach().float()
        tv = total_variation(weights)
        rows.append({"layer": name, "depth": depth, "kernel": f"{conv.kernel_size[0]}x{conv.kernel_size[1]}",
                     "kernels": int(tv.numel()), "mean_tv": float(tv.mean())})
    if not rows:
        raise SelrobError("the model has no convolution with a kernel larger than 1 x 1")
    return pd.DataFrame(rows)


@torch.no_grad()
def channel_total_variation(model: nn.Module, layers: Sequence[str], batches: Iterable[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Fig 3 / A5: per named post-ReLU layer, each channel's TV of its activation map, averaged
    over the images of ``batches`` ([0, 1] float images on the model's device); one float64
    tensor of channels per layer, on the CPU."""
    recorder = MapRecorder(model, layers)
    totals: dict[str, torch.Tensor] = {}
    count = 0
    try:
        with eval_mode(model):
            for images in batches:
                model(images)
                for name in layers:
                    tv = total_variation(recorder.maps[name].double()).sum(dim=0).cpu()
                    totals[name] = totals[name] + tv if name in totals else tv
                count += len(images)
    finally:
        recorder.close()
    if count == 0:
        raise SelrobError("no images to measure activation maps on")
    return {name: totals[name] / count for name in layers}
