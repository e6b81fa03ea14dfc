"""An AlexNet-style plain network for the embedded shape-texture world (the second paper's AlexNet
analogue at 32 x 32 pixels): five conv layers ``conv1``..``conv5``, each followed by its own ReLU
(``relu1``..``relu5``, the post-ReLU maps Network Dissection reads), max-pooling after the first,
second and fifth as in AlexNet, then two fully connected layers.

The first kernel is 7 x 7 (AlexNet's is 11 x 11 at 224 pixels) so that first-layer filters can be
looked at as images (the paper's Figure 2). Widths (32, 64, 96, 96, 64) keep the network small
enough to train standard and adversarially robust copies on a laptop: about 30 M multiply-adds
per 32-pixel image, against ResNet20's 41 M.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

#: Output channels of conv1..conv5.
WIDTHS = (32, 64, 96, 96, 64)
#: The dissected layers: the ReLU after each conv layer.
DISSECTED_LAYERS = tuple(f"features.relu{i}" for i in range(1, 6))


def _conv_bn_relu(index: int, in_channels: int, out_channels: int, kernel: int) -> list[tuple[str, nn.Module]]:
    return [(f"conv{index}", nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False)),
            (f"bn{index}", nn.BatchNorm2d(out_channels)), (f"relu{index}", nn.ReLU(inplace=True))]


class AlexNetSmall(nn.Module):
    def __init__(self, num_classes: int = 10, in_channels: int = 3, hidden: int = 256) -> None:
        super().__init__()
        c1, c2, c3, c4, c5 = WIDTHS
        self.features = nn.Sequential(OrderedDict([
            *_conv_bn_relu(1, in_channels, c1, 7), ("pool1", nn.MaxPool2d(2)),
            *_conv_bn_relu(2, c1, c2, 5), ("pool2", nn.MaxPool2d(2)),
            *_conv_bn_relu(3, c2, c3, 3), *_conv_bn_relu(4, c3, c4, 3),
            *_conv_bn_relu(5, c4, c5, 3), ("pool5", nn.MaxPool2d(2)),
        ]))
        # A fixed 2 x 2 grid before the classifier, so larger images need no other classifier.
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.classifier = nn.Sequential(OrderedDict([
            ("fc6", nn.Linear(c5 * 4, hidden)), ("relu6", nn.ReLU(inplace=True)), ("fc7", nn.Linear(hidden, num_classes)),
        ]))
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def alexnet_small(num_classes: int = 10, in_channels: int = 3) -> AlexNetSmall:
    return AlexNetSmall(num_classes, in_channels)
