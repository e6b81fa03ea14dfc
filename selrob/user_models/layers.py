"""Which layers of a researcher's model the measures read, found by tracing one forward pass.

The second paper reads post-ReLU feature maps of a network's stages (Network Dissection, channel
ablation, activation smoothness); the first reads every ReLU (:class:`~selrob.measures.units.UnitRecorder`).
A module called more than once per forward pass is not one layer: torchvision's ResNet blocks
call one ``ReLU`` module three times, so its hook would see three different maps under one
name. Such a module is refused as a layer, naming a module that calls it once instead.

A network without ReLUs (timm's ConvNeXt, GELU) leaves no non-negative map: its stages' outputs
are read as they are, and the measures that assume non-negative units (the class selectivity
index) are computed on them all the same; docs/your-models.md says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from selrob.errors import SelrobError

_POOLING = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


@dataclass(frozen=True)
class ModuleTrace:
    """One forward pass seen from every named module: how often each ran, in the order they
    finished, which modules run once leave a feature map (``maps``: 4-D, wider than 1 x 1, not a
    pooling output; its shape) and which of those maps are non-negative (post-ReLU)."""

    calls: dict[str, int]
    finished: tuple[str, ...]
    maps: dict[str, tuple[int, ...]]
    non_negative: frozenset[str]
    pooled: frozenset[str]
    relu_modules: int

    def ancestor_called_once(self, name: str) -> str | None:
        """The nearest module above ``name`` that runs once per forward pass (``None``: only the model)."""
        parts = name.split(".")
        for end in range(len(parts) - 1, 0, -1):
            parent = ".".join(parts[:end])
            if self.calls.get(parent) == 1:
                return parent
        return None


def trace_modules(network: nn.Module, example: torch.Tensor) -> ModuleTrace:
    """Run ``network`` once on ``example`` (no gradients) with a hook on every named module."""
    calls: Counter[str] = Counter()
    finished: list[str] = []
    maps: dict[str, tuple[int, ...]] = {}
    non_negative: set[str] = set()
    pooled_names: set[str] = set()
    pooled: list[torch.Tensor] = []  # kept alive, so that no later map can reuse their ids

    def hook_for(name: str, module: nn.Module) -> Any:
        def hook(_module: nn.Module, _args: Any, output: Any) -> None:
            calls[name] += 1
            finished.append(name)
            if not isinstance(output, torch.Tensor):
                return
            if isinstance(module, _POOLING) or any(output is p for p in pooled):  # a container ending in pooling too
                pooled.append(output)
                pooled_names.add(name)
            elif output.dim() == 4 and output.shape[2] * output.shape[3] > 1:
                maps[name] = tuple(output.shape[1:])
                if bool((output >= 0).all()):
                    non_negative.add(name)

        return hook

    handles = [module.register_forward_hook(hook_for(name, module))
               for name, module in network.named_modules() if name]
    try:
        with torch.no_grad():
            network.eval()(example)
    finally:
        for handle in handles:
            handle.remove()
    relus = sum(isinstance(module, nn.ReLU) for module in network.modules())
    once = {name: shape for name, shape in maps.items() if calls[name] == 1}
    return ModuleTrace(dict(calls), tuple(finished), once, frozenset(non_negative) & set(once), frozenset(pooled_names),
                       relus)


def stage_layers(trace: ModuleTrace) -> tuple[str, ...]:
    """The default layers, one per spatial size in the order the pass reaches it: the last module
    to finish there that runs once and leaves a post-ReLU map (in a network without post-ReLU maps,
    any map), among the outermost ones, those at most one level below the shallowest candidate of
    that size or one level below the model. torchvision's ResNets: ``relu``, ``layer1`` ... ``layer4``
    (the paper's choice for ResNet-50); timm's ConvNeXt: ``stages.0`` ... (not the LayerNorm that
    opens the next stage's downsampling, which still sees the last size)."""
    candidates = trace.non_negative or set(trace.maps)
    by_size: dict[tuple[int, ...], list[str]] = {}
    for name in trace.finished:
        if name in candidates:
            by_size.setdefault(trace.maps[name][1:], []).append(name)
    if not by_size:
        raise SelrobError("no module of the model that runs once per forward pass leaves a feature map (N, C, H, W) "
                          "of more than one position; the measures read such maps")
    chosen = []
    for names in by_size.values():
        outermost = max(1, min(name.count(".") for name in names))
        chosen.append([name for name in names if name.count(".") <= outermost][-1])
    return tuple(chosen)


def check_layers(names: Sequence[str], trace: ModuleTrace, model: str) -> tuple[str, ...]:
    """``names`` if each is a module of ``model`` that runs once per forward pass and leaves a
    feature map; else one line naming the first that is not, and what to name instead."""
    for name in names:
        count = trace.calls.get(name)
        if count is None:
            choices = ", ".join([n for n in trace.maps if n in trace.non_negative][:8] or list(trace.maps)[:8])
            raise SelrobError(f"{model} has no layer {name!r} that runs in a forward pass; modules with feature "
                              f"maps: {choices or 'none'}")
        if count > 1:
            instead = trace.ancestor_called_once(name)
            hint = f"name {instead!r}, which calls it once," if instead else "name the modules that call it"
            raise SelrobError(f"{name!r} of {model} runs {count} times per forward pass, so it is not one layer; "
                              f"{hint} or wrap each call in its own module")
        if name in trace.pooled:
            raise SelrobError(f"layer {name!r} of {model} ends in pooling: the papers read the maps before it; "
                              "name the module whose output is pooled")
        if name not in trace.maps:
            raise SelrobError(f"layer {name!r} of {model} does not leave a feature map (N, C, H, W) of more than one "
                              "position; choose a module whose output is one (a post-ReLU one, as the papers read)")
    return tuple(names)
