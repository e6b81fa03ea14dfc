"""Several models of one architecture computed as one network (batched sweep training).

The K models are laid side by side along the channel axis: model ``k`` owns channels
``[k * C, (k + 1) * C)`` of every feature map, each convolution becomes one grouped convolution
(``groups * K``), each BatchNorm one BatchNorm over ``K * C`` channels (its statistics are per
channel, so per model), each linear layer a batched matrix product. Nothing mixes channels of
different models, so model ``k``'s outputs, gradients and BatchNorm statistics are those it would
have alone, up to the summation order of the grouped kernels. One grouped kernel replaces K small
ones: on small models the per-call overhead dominates, which is what batching removes.

The stacked network's interface is an ordinary classifier's: it takes (K * B, C, H, W) images
whose rows ``[k * B, (k + 1) * B)`` are model ``k``'s batch and returns (K * B, classes) logits in
the same order, so attacks and evaluations run on it unchanged.

Only module types whose forward keeps channels apart can be stacked (:data:`STACKABLE`);
:func:`stackable` says whether an architecture qualifies. A single model of any architecture is
its own stack of one, so one training loop serves both.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from selrob.errors import SelrobError
from selrob.models.alexnet_small import AlexNetSmall
from selrob.models.normalize import NormalizedModel
from selrob.models.resnet_cifar import BasicBlock, CifarResNet, ShortcutA


@dataclass(frozen=True)
class Layout:
    """How one tensor of the K models is held in the stacked network: concatenated along
    ``dim`` (``stacked=False``), stacked along a new leading axis (``stacked=True``) or, for
    ``dim=None``, one copy shared by all (a counter every model advances alike)."""

    dim: int | None
    stacked: bool = False

    def join(self, tensors: Sequence[torch.Tensor]) -> torch.Tensor:
        if self.dim is None:
            return tensors[0].clone()
        return torch.stack(list(tensors)) if self.stacked else torch.cat(list(tensors), dim=self.dim)

    def part(self, tensor: torch.Tensor, index: int, count: int) -> torch.Tensor:
        if self.dim is None:
            return tensor.clone()
        if self.stacked:
            return tensor[index].clone()
        return tensor.chunk(count, dim=self.dim)[index].clone()


class StackedLinear(nn.Module):
    """K linear layers on (B, K * in) inputs: ``y[:, k] = x[:, k] @ W_k.T + b_k``."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.bias = None if bias is None else nn.Parameter(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        count, _, features = self.weight.shape
        out = torch.einsum("bki,koi->bko", x.view(x.shape[0], count, features), self.weight)
        if self.bias is not None:
            out = out + self.bias
        return out.flatten(1)


class StackedShortcutA(nn.Module):
    """:class:`ShortcutA` for K models: zero-pads each model's channels, not the stack's ends."""

    def __init__(self, shortcut: ShortcutA, count: int) -> None:
        super().__init__()
        self.stride, self.pad, self.count = shortcut.stride, shortcut.pad, count

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        batch, channels, height, width = x.shape
        x = x.reshape(batch, self.count, channels // self.count, height, width)
        return F.pad(x, (0, 0, 0, 0, *self.pad)).flatten(1, 2)


def _stacked_conv(convs: Sequence[nn.Conv2d]) -> nn.Conv2d:
    first, count = convs[0], len(convs)
    conv = nn.Conv2d(
        first.in_channels * count, first.out_channels * count, first.kernel_size, first.stride, first.padding,
        first.dilation, first.groups * count, first.bias is not None, first.padding_mode,
    )
    with torch.no_grad():
        conv.weight.copy_(torch.cat([c.weight for c in convs]))
        if conv.bias is not None:
            conv.bias.copy_(torch.cat([c.bias for c in convs]))
    return conv


def _stacked_batchnorm(norms: Sequence[nn.BatchNorm2d]) -> nn.BatchNorm2d:
    first = norms[0]
    norm = nn.BatchNorm2d(first.num_features * len(norms), first.eps, first.momentum, first.affine,
                          first.track_running_stats)
    norm.load_state_dict({key: Layout(None if key == "num_batches_tracked" else 0).join(
        [n.state_dict()[key] for n in norms]) for key in first.state_dict()})
    return norm


#: Modules without parameters whose forward keeps channels apart (element-wise, spatial, or
#: containers whose forward only chains such modules and adds maps of equal layout).
_CHANNEL_LOCAL = (nn.ReLU, nn.Identity, nn.Sequential, nn.AdaptiveAvgPool2d, nn.MaxPool2d, nn.AvgPool2d,
                  nn.Flatten, CifarResNet, BasicBlock, AlexNetSmall)

#: Every module type a stacked network may contain.
STACKABLE = (*_CHANNEL_LOCAL, nn.Conv2d, nn.BatchNorm2d, nn.Linear, ShortcutA, NormalizedModel)


def _torchvision_blocks() -> tuple[type[nn.Module], ...]:
    """torchvision's ResNet and its blocks (ResNet18 / 50 of the Tiny ImageNet sweeps), when loaded:
    importing torchvision takes seconds, and a model of these types has imported it already."""
    import sys

    resnet = sys.modules.get("torchvision.models.resnet")
    return () if resnet is None else (resnet.ResNet, resnet.BasicBlock, resnet.Bottleneck)


def stackable(model: nn.Module) -> bool:
    """Whether every module of ``model`` is of a type :class:`StackedModels` can stack."""
    allowed = (*STACKABLE, *_torchvision_blocks())
    return all(type(module) in allowed for module in model.modules())


class StackedModels(nn.Module):
    """K models of one architecture as one network; see the module docstring.

    Attributes:
        count: K.
        network: the stacked network on (B, K * C, H, W) maps; its parameter and buffer names are
            those of one model, in the same order.
    """

    def __init__(self, models: Sequence[nn.Module]) -> None:
        super().__init__()
        if not models:
            raise SelrobError("stacking needs at least one model")
        self.count = len(models)
        if self.count == 1:  # any model: one is its own stack
            self.network = models[0]
            self.layouts = {key: Layout(None) for key in models[0].state_dict()}
            return
        if not all(stackable(m) for m in models):
            kinds = sorted({type(m).__name__ for model in models for m in model.modules()
                            if type(m) not in (*STACKABLE, *_torchvision_blocks())})
            raise SelrobError(f"cannot stack models containing {', '.join(kinds)}; stackable modules: "
                              f"{', '.join(t.__name__ for t in STACKABLE)} and torchvision's ResNet blocks")
        names = [[name for name, _ in m.named_modules()] for m in models]
        if any(n != names[0] for n in names):
            raise SelrobError("stacked models must share one architecture")
        self.network = copy.deepcopy(models[0])
        self.layouts: dict[str, Layout] = {}
        modules = [dict(m.named_modules()) for m in models]
        for name, module in list(self.network.named_modules()):
            replacement = self._stacked(module, [found[name] for found in modules], name)
            if replacement is not module:
                self._replace(name, replacement)
        ordinary = [*models[0].state_dict()]
        if [*self.network.state_dict()] != ordinary or set(self.layouts) != set(ordinary):
            raise SelrobError("the stacked network's tensors do not match the model's")
        self.layouts = {key: self.layouts[key] for key in ordinary}

    def _stacked(self, module: nn.Module, parts: list[nn.Module], name: str) -> nn.Module:
        prefix = f"{name}." if name else ""
        if isinstance(module, nn.Conv2d):
            self.layouts.update({f"{prefix}{key}": Layout(0) for key, _ in module.named_parameters()})
            return _stacked_conv(parts)  # type: ignore[arg-type]
        if isinstance(module, nn.BatchNorm2d):
            self.layouts.update({f"{prefix}{key}": Layout(None if key == "num_batches_tracked" else 0)
                                 for key in module.state_dict()})
            return _stacked_batchnorm(parts)  # type: ignore[arg-type]
        if isinstance(module, nn.Linear):
            self.layouts.update({f"{prefix}{key}": Layout(0, stacked=True) for key, _ in module.named_parameters()})
            return StackedLinear(torch.stack([p.weight.detach() for p in parts]),  # type: ignore[misc]
                                 None if module.bias is None else torch.stack([p.bias.detach() for p in parts]))  # type: ignore[misc]
        if isinstance(module, ShortcutA):
            return StackedShortcutA(module, self.count)
        if isinstance(module, NormalizedModel):
            for key in ("mean", "std"):
                self.layouts[f"{prefix}{key}"] = Layout(1)
                setattr(module, key, torch.cat([getattr(p, key) for p in parts], dim=1))
        return module

    def _replace(self, name: str, replacement: nn.Module) -> None:
        parent_name, _, attribute = name.rpartition(".")
        setattr(self.network.get_submodule(parent_name), attribute, replacement)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0] // self.count
        maps = x.reshape(self.count, batch, *x.shape[1:]).transpose(0, 1).flatten(1, 2)
        logits = self.network(maps)
        return logits.reshape(batch, self.count, -1).transpose(0, 1).flatten(0, 1)

    def model_state_dict(self, index: int) -> dict[str, torch.Tensor]:
        """Model ``index``'s state dict, in an ordinary model's keys and shapes."""
        return self.split(self.network.state_dict(), index)

    def load_model_state_dicts(self, states: Sequence[Mapping[str, torch.Tensor]]) -> None:
        """Load one ordinary state dict per model."""
        self.network.load_state_dict(self.join(states))

    def split(self, tensors: Mapping[str, torch.Tensor], index: int) -> dict[str, torch.Tensor]:
        """Model ``index``'s part of stacked tensors keyed like the state dict (weights, or an
        optimizer's per-parameter buffers)."""
        # Contiguous: a checkpoint holds ordinary tensors whatever layout the stack trains in.
        return {key: self.layouts[key].part(value, index, self.count).contiguous() for key, value in tensors.items()}

    def join(self, tensors: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Stack per-model tensors keyed like the state dict (the inverse of :meth:`split`)."""
        if len(tensors) != self.count:
            raise SelrobError(f"expected {self.count} state dicts, got {len(tensors)}")
        return {key: self.layouts[key].join([t[key] for t in tensors]) for key in tensors[0]}

    def units(self, activations: torch.Tensor) -> torch.Tensor:
        """A stacked (B, K * units) recording of one layer as (K, B, units)."""
        return activations.reshape(activations.shape[0], self.count, -1).transpose(0, 1)
