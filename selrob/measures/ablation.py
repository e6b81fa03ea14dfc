"""Channel ablation (the second paper's section 3.4, Figs 4b, 5 and A20-A26): zero one channel of a
layer's output at a time and see which decisions change, as pure functions of a model and images.

* :func:`ablated_predictions`: one forward pass serves K ablations. A forward hook on the layer's
  module replaces its (B, C, H, W) or (B, C) output by K copies stacked as (K B, ...), copy k with
  channel ``channels[k]`` zeroed, so the network after the layer runs once on all of them; the
  part before it (the prefix) runs once for the B images. The model's weights are never touched.
* :func:`channel_ablation`: every channel of a layer on a set of images, in passes of at most
  ``max_values`` values of the layer's output (copies x images x values per map), so memory stays
  bounded; while a layer's channels fit one pass, the prefix runs once per image batch.
* :func:`shape_texture_scores`: per channel, the Shape score (images first decided by their shape
  whose decision changes when the channel is zeroed) and the Texture score (likewise, by texture).

A decision is the arg-max class by default (:func:`top1`); ``decide`` maps a batch of logits to
what counts instead, e.g. the 16-category decision of an ImageNet model
(:func:`selrob.measures.human_categories.decisions_from_logits`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import nn

from selrob.attacks.common import eval_mode
from selrob.data.batches import to_unit_float
from selrob.errors import SelrobError
from selrob.measures.units import MapRecorder
from selrob.progress import progress_bar

#: Logits (N, classes) -> decisions (N, ...).
Decide = Callable[[torch.Tensor], torch.Tensor]
#: Values of the layer's output per forward pass: 4,096 copies of a 32 x 32 x 32 map (the first
#: ReLU of ``alexnet_small``), 512 MiB in float32.
MAX_VALUES = 4096 * 32 * 32 * 32


def top1(logits: torch.Tensor) -> torch.Tensor:
    """The arg-max class of each row of ``logits``: the paper's decision on the world's images."""
    return logits.argmax(dim=1)


def _module(model: nn.Module, layer: str) -> nn.Module:
    modules = dict(model.named_modules())
    if layer not in modules:
        raise SelrobError(f"the model has no module {layer!r}; its modules include "
                          f"{', '.join(list(modules)[1:6])}, ...")
    return modules[layer]


@torch.no_grad()
def ablated_predictions(model: nn.Module, layer: str, images: torch.Tensor, channels: Sequence[int],
                        decide: Decide = top1, reference: bool = False) -> torch.Tensor:
    """(K, B, ...) decisions of ``model`` on ``images`` (B model inputs, on its device), copy k
    with channel ``channels[k]`` of the output of module ``layer`` zeroed, from one forward pass
    (the model in eval mode, so that the K B items are independent). With ``reference`` a last
    copy keeps every channel: (K + 1, B, ...), the intact decisions computed in the same batch as
    the ablated ones (another batch size can move logits in their last bits and flip a near tie).

    The module must run once per forward pass: a module called twice (torchvision's BasicBlock
    reuses one ReLU) would be ablated at both calls and see the copies again, so it is refused.
    """
    channels = [int(c) for c in channels]
    if not channels:
        raise SelrobError("no channels to ablate")
    module, batch, calls = _module(model, layer), len(images), 0
    copies = len(channels) + int(reference)

    def stack(module: nn.Module, args: tuple[object, ...], output: torch.Tensor) -> torch.Tensor:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise SelrobError(f"module {layer!r} runs more than once per forward pass (a reused module, as "
                              "torchvision's BasicBlock reuses its ReLU); ablate a module that runs once")
        if not isinstance(output, torch.Tensor) or output.dim() < 2 or len(output) != batch:
            raise SelrobError(f"module {layer!r} does not output a (batch, channels, ...) tensor")
        width = output.shape[1]
        if not all(0 <= c < width for c in channels):
            raise SelrobError(f"module {layer!r} has {width} channels; cannot ablate channels {channels}")
        keep = torch.ones((copies, 1, width) + (1,) * (output.dim() - 2), dtype=torch.bool, device=output.device)
        keep[torch.arange(len(channels), device=output.device), 0, channels] = False
        # A new tensor, not the output zeroed in place: an in-place ReLU's output is the storage of
        # its input, which other modules may hold. torch.where zeroes exactly (also inf and NaN).
        return torch.where(keep, output.unsqueeze(0), 0).flatten(0, 1)

    handle = module.register_forward_hook(stack)
    try:
        with eval_mode(model):
            logits = model(images)
    finally:
        handle.remove()
    if calls == 0:
        raise SelrobError(f"module {layer!r} did not run in the forward pass")
    if len(logits) != copies * batch:  # the layer must lie on every path to the output
        raise SelrobError(f"the model's output has {len(logits)} rows, not {copies} copies x {batch} images: "
                          f"part of it bypasses module {layer!r}")
    decisions = decide(logits)
    return decisions.reshape(copies, batch, *decisions.shape[1:])


def ablation_plan(channels: int, values_per_copy: int, max_values: int = MAX_VALUES) -> tuple[int, int]:
    """``(images, channels)`` per forward pass, each pass holding one copy per ablated channel
    and one intact copy, with ``images x copies x values_per_copy <= max_values`` (one ablated
    copy at the least): every channel at once for as many images as fit, else one image and as
    many channels as fit (the prefix then runs once per group of channels)."""
    if channels < 1 or values_per_copy < 1 or max_values < 1:
        raise SelrobError(f"an ablation plan needs positive sizes, got {channels} channels, "
                          f"{values_per_copy} values per map, a budget of {max_values}")
    copies = max(2, max_values // values_per_copy)
    return (copies // (channels + 1), channels) if copies > channels else (1, copies - 1)


def _inputs(images: torch.Tensor, device: torch.device | None) -> torch.Tensor:
    """A batch on ``device``: uint8 images as [0, 1] floats, float images as they are."""
    batch = images.to(device)
    return to_unit_float(batch) if batch.dtype == torch.uint8 else batch


def layer_channels(model: nn.Module, layer: str, images: torch.Tensor,
                   device: torch.device | None = None) -> tuple[int, int]:
    """``(channels, values per map)`` of module ``layer``'s output, from the first image of
    ``images`` (uint8 or float model inputs, moved to ``device``)."""
    recorder = MapRecorder(model, [layer])
    try:
        with torch.no_grad(), eval_mode(model):
            model(_inputs(images[:1], device))
    finally:
        recorder.close()
    if layer not in recorder.maps:
        raise SelrobError(f"module {layer!r} did not run in the forward pass")
    shape = recorder.maps[layer].shape
    return int(shape[1]), int(torch.Size(shape[1:]).numel())


class Ablation(NamedTuple):
    """(C, N, ...) decisions with each channel zeroed (``decisions``) and, for each, the intact
    decisions computed in the same passes (``reference``)."""

    decisions: torch.Tensor
    reference: torch.Tensor


@torch.no_grad()
def channel_ablation(model: nn.Module, layer: str, images: torch.Tensor, decide: Decide = top1,
                     device: torch.device | None = None, max_values: int = MAX_VALUES, progress: bool = False,
                     desc: str = "channel ablation") -> Ablation:
    """Decisions on every image of ``images`` (N, uint8 or float model inputs, moved to
    ``device`` a batch at a time) with each of the C channels of module ``layer`` zeroed in turn,
    and the intact ones of the same passes, on the CPU; :func:`ablated_predictions` in passes
    planned by :func:`ablation_plan`."""
    if len(images) == 0:
        raise SelrobError("no images to ablate channels on")
    channels, values = layer_channels(model, layer, images, device)
    per_pass, group = ablation_plan(channels, values, max_values)
    columns, references = [], []
    with progress_bar(total=-(-len(images) // per_pass) * -(-channels // group), desc=desc, unit="pass",
                      disable=not progress, leave=False) as bar:
        for start in range(0, len(images), per_pass):
            batch = _inputs(images[start : start + per_pass], device)  # moved and converted once for its passes
            rows, intact = [], []
            for first in range(0, channels, group):
                chosen = range(first, min(channels, first + group))
                decided = ablated_predictions(model, layer, batch, chosen, decide, reference=True).cpu()
                rows.append(decided[:-1])
                intact.append(decided[-1:].expand(len(chosen), *decided.shape[1:]))
                bar.update()
            columns.append(torch.cat(rows))
            references.append(torch.cat(intact))
    return Ablation(torch.cat(columns, dim=1), torch.cat(references, dim=1))


class ShapeTextureScores(NamedTuple):
    """Per channel (C,) int64: its Shape and Texture score."""

    shape: torch.Tensor
    texture: torch.Tensor


def shape_texture_scores(original: torch.Tensor, ablated: torch.Tensor, shape_labels: torch.Tensor,
                         texture_labels: torch.Tensor, reference: torch.Tensor | None = None) -> ShapeTextureScores:
    """Section 3.4's scores (Fig 4b) of every channel, from cue-conflict images' decisions
    ``original`` (N,) of the intact model and ``ablated`` (C, N) with each channel zeroed: the
    Shape score counts the images whose original decision is their shape's class and whose
    decision changes; the Texture score likewise for the texture's class ("the number of images
    originally correctly labeled into the shape class by the network but that, after the
    ablation, are labeled differently"). Images decided by neither cue count for neither. A
    decision changes against ``reference`` (C, N), the intact decisions of the same passes, when
    given (:class:`Ablation`), else against ``original``."""
    if ablated.dim() != 2 or ablated.shape[1] != len(original) or not (
            shape_labels.shape == texture_labels.shape == original.shape):
        raise SelrobError(f"need (channels, N) ablated decisions for N = {len(original)} images with N shape and "
                          f"texture labels, got {tuple(ablated.shape)}, {tuple(shape_labels.shape)}, "
                          f"{tuple(texture_labels.shape)}")
    if (shape_labels == texture_labels).any():
        raise SelrobError("cue-conflict images need different shape and texture classes")
    changed = ablated != (original[None] if reference is None else reference)
    return ShapeTextureScores((changed & (original == shape_labels)[None]).sum(dim=1),
                              (changed & (original == texture_labels)[None]).sum(dim=1))


def changed_images(original: torch.Tensor, ablated: torch.Tensor) -> list[list[int]]:
    """Per channel, the indices of the images whose decision changes when it is zeroed (Fig 5's
    "cue-conflict images that flip"), from ``original`` (N,) or (C, N) (e.g. the reference of an
    :class:`Ablation`) and ``ablated`` (C, N)."""
    changed = ablated != (original[None] if original.dim() == 1 else original)
    return [torch.nonzero(row).flatten().tolist() for row in changed]
