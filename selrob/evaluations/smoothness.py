"""Smoothness of filters and activation maps (the second paper's section 3.3.1), cached:

* ``kernel-tv`` (per source; Table 4, Fig A27): the mean total variation of every conv layer's
  2-D kernel slices (:func:`selrob.measures.total_variation.kernel_total_variation`);
* ``activation-tv`` (per standard / robust pair; Fig 3, A5): per post-ReLU channel of each
  dissected layer of both models, the mean TV of its maps over the pair's correctly classified
  images, clean and with the dataset's own Gaussian noise at severity 1 (ImageNet-C's N(0, 0.08)
  on ImageNet; :data:`selrob.corruptions.SEVERITIES`), the same noise for both models. Cached in
  the robust model's folder, keyed by its standard partner.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from selrob.corruptions import SEVERITIES, corrupt
from selrob.data.base import ImageSet
from selrob.data.batches import to_unit_float
from selrob.data.corrupted import corrupted_format
from selrob.device import resolve_device
from selrob.evaluations.common import entry
from selrob.evaluations.correct_subset import correct_subset, robustness_pairings, subset_entry
from selrob.evaluations.registry import Evaluation, EvaluationContext, Pairing, register
from selrob.measures.total_variation import channel_total_variation, kernel_total_variation
from selrob.store.cache import CacheEntry
from selrob.store.sources import ModelSource

NOISE = ("gaussian_noise", 1)
#: Images per forward pass (and per noise draw, which is seeded by the chunk's position).
CHUNK = 256
ROLES = ("standard", "robust")


def kernel_tv_entry(source: ModelSource) -> CacheEntry:
    return entry(source, "kernel-tv", {"measure": "anisotropic L1 TV of each 2-D kernel slice, mean per conv layer"})


def evaluate_kernel_tv(source: ModelSource, context: EvaluationContext) -> list[dict[str, Any]]:
    """Per conv layer: its name, depth, kernel size, number of 2-D kernels and their mean TV."""
    return kernel_tv_entry(source).get_or_compute(
        lambda: kernel_total_variation(source.load_model("cpu")).to_dict("records"))


def kernel_tv_rows(result: list[dict[str, Any]], context: EvaluationContext) -> Iterator[dict[str, Any]]:
    return iter(result)


KERNEL_TV = register(Evaluation(
    name="kernel-tv", description="mean total variation of each conv layer's kernels (Table 4, Fig A27)",
    columns=("layer", "depth", "kernel", "kernels", "mean_tv"), value="mean_tv", evaluate=evaluate_kernel_tv,
    rows=kernel_tv_rows, is_cached=lambda source, context: kernel_tv_entry(source).exists(),
    headline_label="mean over conv layers of the mean kernel TV",
))


def activation_tv_entry(pairing: Pairing) -> CacheEntry:
    table = corrupted_format(pairing.target.dataset).table
    return entry(pairing.target, "activation-tv", {
        "standard": pairing.source.name, "subset": subset_entry(pairing).params, "noise": list(NOISE),
        "table": table, "sigma": SEVERITIES[table][NOISE[0]][NOISE[1] - 1], "chunk": CHUNK,
        "layers": [list(pairing.source.dissected_layers), list(pairing.target.dissected_layers)],
    })


def _batches(data: ImageSet, subset: Sequence[int], noisy: bool, table: str, device: torch.device) -> Iterator[torch.Tensor]:
    """The subset's images as [0, 1] batches on ``device``, with severity-1 noise when ``noisy``."""
    for k, start in enumerate(range(0, len(subset), CHUNK)):
        images = data.images[torch.as_tensor(subset[start : start + CHUNK])]
        if noisy:
            array = corrupt(images.permute(0, 2, 3, 1).numpy(), *NOISE, table=table, seed=(0, k))
            images = torch.from_numpy(np.ascontiguousarray(array.transpose(0, 3, 1, 2)))
        yield to_unit_float(images.to(device))


def evaluate_activation_tv(pairings: Sequence[Pairing], context: EvaluationContext) -> list[dict[str, Any]]:
    """Per pairing, ``{"images": n, "layers": {role: {layer: {"clean": [...], "noisy": [...]}}}}``:
    per channel, its mean activation-map TV on the subset's clean and noisy images."""
    device = resolve_device(context.device)

    def compute(pairing: Pairing) -> dict[str, Any]:
        subset = correct_subset(pairing, context)
        data = pairing.target.test_set(context.data_root)
        table = corrupted_format(pairing.target.dataset).table
        layers: dict[str, Any] = {}
        for role, source in zip(ROLES, (pairing.source, pairing.target)):
            model, names = source.load_model(device), source.dissected_layers
            measured = {noisy: channel_total_variation(model, names, _batches(data, subset, noisy, table, device))
                        for noisy in (False, True)}
            layers[role] = {name.removeprefix("backbone."): {"clean": measured[False][name].tolist(),
                                                             "noisy": measured[True][name].tolist()} for name in names}
        return {"images": len(subset), "layers": layers}

    return [activation_tv_entry(p).get_or_compute(lambda p=p: compute(p)) for p in pairings]


def activation_tv_rows(result: dict[str, Any], context: EvaluationContext, pairing: Pairing) -> Iterator[dict[str, Any]]:
    for role, layers in result["layers"].items():
        for depth, (layer, values) in enumerate(layers.items(), start=1):
            for channel, (clean, noisy) in enumerate(zip(values["clean"], values["noisy"])):
                yield {"standard": pairing.source.name, "role": role, "layer": layer, "depth": depth, "channel": channel,
                       "clean": clean, "noisy": noisy, "images": result["images"]}


ACTIVATION_TV = register(Evaluation(
    name="activation-tv", description="per channel of the dissected layers of both models of a pair, the mean TV of "
    "its maps on the pair's correctly classified images, clean and noisy (Fig 3, A5)",
    columns=("standard", "role", "layer", "depth", "channel", "clean", "noisy", "images"), value="clean",
    evaluate=evaluate_activation_tv, rows=activation_tv_rows,
    is_cached=lambda pairing, context: activation_tv_entry(pairing).exists(), fills=("correct-subset",),
    pairings=robustness_pairings, headline_label="mean clean activation TV over channels",
))
