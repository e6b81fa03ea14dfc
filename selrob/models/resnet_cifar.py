"""CIFAR-style ResNet20 (He et al. 2016, section 4.2), as in the paper's appendix A.1.1.

The paper's code was modified from Idelbayev (2020), the public ``pytorch_resnet_cifar10``:
3x3 conv 3->16, BN, ReLU; three stages of ``n`` BasicBlocks with widths 16/32/64 and strides
1/2/2; "option A" parameter-free shortcuts (subsample by 2, zero-pad the new channels); global
average pool; linear 64 -> classes; Kaiming-normal init of conv and linear weights. ResNet20
(n = 3) has 269,722 parameters for 3 input channels and 10 classes.

Every ReLU call has its own module, so forward hooks see each post-ReLU map exactly once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ShortcutA(nn.Module):
    """Option-A shortcut: take every second pixel and zero-pad channels up to ``out_channels``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        extra = out_channels - in_channels
        self.pad = (extra // 2, extra - extra // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, *self.pad))


class BasicBlock(nn.Module):
    """conv-BN-ReLU-conv-BN, plus shortcut, then ReLU (two distinct ReLU modules)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu2 = nn.ReLU(inplace=True)
        needs_projection = stride != 1 or in_channels != out_channels
        self.shortcut: nn.Module = (
            ShortcutA(in_channels, out_channels, stride) if needs_projection else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


#: The dissected layers (the second paper's section 3.3, as ResNet-50's stem ReLU and stages): the
#: stem's ReLU and each stage, whose last block ends in a ReLU.
DISSECTED_LAYERS = ("relu", "layer1", "layer2", "layer3")


class CifarResNet(nn.Module):
    """ResNet of depth ``6 * blocks_per_stage + 2`` for small (e.g. 32x32) images."""

    def __init__(self, blocks_per_stage: int, num_classes: int, in_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        stages = []
        width_in = 16
        for width, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for index in range(blocks_per_stage):
                blocks.append(BasicBlock(width_in, width, stride if index == 0 else 1))
                width_in = width
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def resnet20(num_classes: int = 10, in_channels: int = 3) -> CifarResNet:
    """ResNet20: three BasicBlocks per stage, 19 post-ReLU layers (stem + 2 per block)."""
    return CifarResNet(3, num_classes, in_channels)
