"""torchvision's AlexNet, GoogLeNet and ResNet-50 as zoo models, and the layers the paper dissects.

Every zoo model is a :class:`~selrob.models.normalize.NormalizedModel`: it takes [0, 1] images
and normalises them itself with the entry's mean and std, so attacks and corruptions work on
[0, 1] images as for every other model here. (The robustness library's normaliser also clamps
its input to [0, 1]; the attacks here keep images in [0, 1], so there is nothing to clamp.)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import torch
from torch import nn
from torchvision import models as tv

from selrob.errors import SelrobError
from selrob.models.normalize import NormalizedModel
from selrob.models.state import load_strictly
from selrob.zoo.entries import ARCHITECTURES, ZooEntry

_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "alexnet": tv.alexnet,
    # Weights loaded afterwards replace any initialisation; aux heads serve training only.
    "googlenet": functools.partial(tv.googlenet, aux_logits=False, init_weights=False),
    "resnet50": tv.resnet50,
}

#: The post-ReLU layers of the paper's analyses (section 3; Network Dissection, total variation of
#: activation maps), as module names in the torchvision network. AlexNet: the ReLU after each of
#: conv1-conv5 (64 + 192 + 384 + 256 + 256 = 1,152 channels). GoogLeNet: conv1-conv3 and the nine
#: inception blocks, whose outputs concatenate post-ReLU branches (5,808). ResNet-50: the stem's
#: ReLU (torchvision's top-level ``relu`` runs once, after ``bn1``) and layer1-layer4, whose
#: blocks end in a ReLU (3,904).
DISSECTED_LAYERS: dict[str, tuple[str, ...]] = {
    "alexnet": tuple(f"features.{index}" for index in (1, 4, 7, 9, 11)),
    "googlenet": ("conv1", "conv2", "conv3", "inception3a", "inception3b",
                  *(f"inception4{block}" for block in "abcde"), "inception5a", "inception5b"),
    "resnet50": ("relu", "layer1", "layer2", "layer3", "layer4"),
}


def _check_arch(arch: str) -> str:
    if arch not in ARCHITECTURES:
        raise SelrobError(f"unknown zoo architecture {arch!r}; choose one of: {', '.join(ARCHITECTURES)}")
    return arch


def dissected_layers(arch: str) -> tuple[str, ...]:
    """Names of the dissected post-ReLU modules of ``arch`` in the torchvision network (in a zoo
    model, prefix ``backbone.``)."""
    return DISSECTED_LAYERS[_check_arch(arch)]


def build_network(arch: str, transform_input: bool = False) -> nn.Module:
    """torchvision's ``arch`` for ImageNet's 1000 classes, randomly initialised.

    ``transform_input`` (GoogLeNet only) re-maps ImageNet-normalised input ``(x - mean) / std`` to
    ``(x - 0.5) / 0.5``, the convention torchvision's GoogLeNet weights (ported from TensorFlow)
    were trained in; torchvision's pretrained builder sets it, and a GoogLeNet built from a state
    dict gets ``False`` unless told (a defect of the paper's code). Each entry says which it needs:
    :class:`~selrob.zoo.entries.ZooEntry` ``transform_input``. GoogLeNet-R needs ``False``: the
    robustness library fed it ImageNet-normalised images as they are.
    """
    options = {"transform_input": transform_input} if _check_arch(arch) == "googlenet" else {}
    return _BUILDERS[arch](weights=None, **options)


def build_model(entry: ZooEntry, state: Mapping[str, torch.Tensor] | None = None, origin: str = "") -> NormalizedModel:
    """The entry's network, with ``state`` (torchvision keys; read from ``origin``) loaded strictly
    or random weights when ``None``, behind its normalisation; in eval mode."""
    network = build_network(entry.arch, entry.transform_input)
    if state is not None:
        load_strictly(network, state, origin, f"torchvision's {entry.arch}")
    return NormalizedModel(network, entry.preprocessing.mean, entry.preprocessing.std).eval()
