"""torchvision ResNet18 / ResNet50 adapted to 64x64 Tiny ImageNet (paper appendix A.1.1).

The max-pool after the stem is removed ("because of the smaller size of Tiny ImageNet images");
everything else is torchvision's architecture and initialisation. torchvision's blocks call one
ReLU module two (BasicBlock) or three (Bottleneck) times, so the unit recorder counts calls, not
modules: ResNet18 has 17 post-ReLU layers, ResNet50 49.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

if TYPE_CHECKING:  # torchvision takes seconds to import; only these two models need it
    from torchvision.models import ResNet


def _without_maxpool(name: str, num_classes: int, in_channels: int) -> ResNet:
    from torchvision import models

    model = getattr(models, name)(weights=None, num_classes=num_classes)
    model.maxpool = nn.Identity()
    if in_channels != 3:
        model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    return model


def resnet18(num_classes: int = 200, in_channels: int = 3) -> ResNet:
    """torchvision ResNet18 without the stem max-pool."""
    return _without_maxpool("resnet18", num_classes, in_channels)


def resnet50(num_classes: int = 200, in_channels: int = 3) -> ResNet:
    """torchvision ResNet50 without the stem max-pool."""
    return _without_maxpool("resnet50", num_classes, in_channels)
