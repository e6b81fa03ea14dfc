"""Models registered by name; every model takes [0, 1] images and normalises them itself."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

from selrob.errors import SelrobError
from selrob.models import alexnet_small as _alexnet_small
from selrob.models import resnet_cifar as _resnet_cifar
from selrob.models.alexnet_small import alexnet_small
from selrob.models.normalize import NormalizedModel
from selrob.models.resnet_cifar import resnet20
from selrob.models.resnet_imagenet import resnet18, resnet50

MODELS: dict[str, Callable[..., nn.Module]] = {
    "resnet20": resnet20,
    "resnet18": resnet18,
    "resnet50": resnet50,
    "alexnet_small": alexnet_small,
}


#: Post-ReLU modules of each architecture's backbone that the second paper's analyses read
#: (activation smoothness, Network Dissection).
_DISSECTED: dict[str, tuple[str, ...]] = {
    "alexnet_small": _alexnet_small.DISSECTED_LAYERS,
    "resnet20": _resnet_cifar.DISSECTED_LAYERS,
}


def check_arch(arch: str) -> str:
    """Return ``arch`` if it is registered, else raise a one-line error listing the choices."""
    if arch not in MODELS:
        raise SelrobError(f"unknown arch {arch!r}; choose one of: {', '.join(MODELS)}")
    return arch


def build_model(
    arch: str,
    *,
    num_classes: int,
    in_channels: int,
    mean: Sequence[float],
    std: Sequence[float],
) -> NormalizedModel:
    """Build ``arch`` for ``num_classes`` classes with its input normalisation inside it."""
    backbone = MODELS[check_arch(arch)](num_classes=num_classes, in_channels=in_channels)
    return NormalizedModel(backbone, mean, std)


def dissected_layers(arch: str) -> tuple[str, ...]:
    """Names, in a :func:`build_model` network, of the post-ReLU modules of ``arch`` that the
    second paper's layer-wise analyses read; a one-line error for architectures without them."""
    if check_arch(arch) not in _DISSECTED:
        raise SelrobError(f"{arch} has no dissected layers; choose one of: {', '.join(_DISSECTED)}")
    return tuple(f"backbone.{name}" for name in _DISSECTED[arch])


__all__ = ["MODELS", "NormalizedModel", "build_model", "check_arch", "dissected_layers"]
