"""Record every post-ReLU feature map of a model as "units" (paper section 3), or the whole maps
of named layers (:class:`MapRecorder`).

A unit is one channel of a post-ReLU feature map, its activation averaged over spatial
positions. Layers are counted per ReLU *call* in execution order, because torchvision's blocks
reuse one ReLU module: ResNet20 has 19 layers, ResNet18 17, ResNet50 49. The logit layer has no
ReLU and is excluded by construction. Maps are reduced to (batch, channels) inside the hook, so
whole activation tensors are never kept.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from types import TracebackType

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from selrob.errors import SelrobError


class UnitRecorder:
    """Context manager that records each ReLU call's spatially averaged output, or that of the
    modules named in ``layers`` (a researcher's model whose units are not ``nn.ReLU`` modules, or
    who reads chosen layers: :attr:`selrob.store.sources.ModelSource.unit_layers`).

    After every forward pass of ``model``, :attr:`activations` holds one (batch, units) tensor per
    layer, in execution order, and :attr:`layer_names` their names (``module.path:call``). The
    tensors stay attached to the autograd graph, so the selectivity regularizer and input-unit
    gradients can differentiate through them.

    Example::

        with UnitRecorder(model) as units:
            logits = model(images)
            layer_acts = units.activations
    """

    def __init__(self, model: nn.Module, layers: Sequence[str] | None = None) -> None:
        self.model = model
        self.layers = None if layers is None else tuple(layers)
        self.activations: list[torch.Tensor] = []
        self.layer_names: list[str] = []
        self._calls: Counter[str] = Counter()
        self._handles: list[RemovableHandle] = []

    def __enter__(self) -> UnitRecorder:
        self._handles.append(self.model.register_forward_pre_hook(self._reset))
        modules = dict(self.model.named_modules())
        missing = [name for name in self.layers or () if name not in modules]
        if missing:
            raise SelrobError(f"the model has no module {missing[0]!r} to read units from")
        chosen = self.layers if self.layers is not None else [n for n, m in modules.items() if isinstance(m, nn.ReLU)]
        for name in chosen:
            self._handles.append(modules[name].register_forward_hook(self._hook_for(name)))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _reset(self, module: nn.Module, args: tuple[object, ...]) -> None:
        self.activations = []
        self.layer_names = []
        self._calls.clear()

    def _hook_for(self, name: str) -> Callable[[nn.Module, tuple[object, ...], torch.Tensor], None]:
        def hook(module: nn.Module, args: tuple[object, ...], output: torch.Tensor) -> None:
            units = output.mean(dim=(2, 3)) if output.dim() == 4 else output
            self.activations.append(units)
            self.layer_names.append(f"{name}:{self._calls[name]}")
            self._calls[name] += 1

        return hook


class MapRecorder:
    """Forward hooks that keep the whole output maps of the named modules (e.g. a model source's
    dissected layers) of the last forward pass, detached; :meth:`close` removes them."""

    def __init__(self, model: nn.Module, layers: Sequence[str]) -> None:
        modules = dict(model.named_modules())
        missing = [name for name in layers if name not in modules]
        if missing:
            raise SelrobError(f"the model has no module {missing[0]!r}; its modules include "
                              f"{', '.join(list(modules)[1:6])}, ...")
        self.maps: dict[str, torch.Tensor] = {}
        self._handles = [modules[name].register_forward_hook(self._hook(name)) for name in layers]

    def _hook(self, name: str) -> Callable[[nn.Module, tuple[object, ...], torch.Tensor], None]:
        def keep(module: nn.Module, args: tuple[object, ...], output: torch.Tensor) -> None:
            self.maps[name] = output.detach()

        return keep

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()
