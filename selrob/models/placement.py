"""The memory layout models train and evaluate in: channels-last.

On this project's CPUs (oneDNN, one thread, ``benchmarks/eval_throughput.py``) a 32-pixel
alexnet_small / ResNet20 forward pass is 1.4x / 1.5x faster channels-last, their input gradients
1.2x / 1.1x, and digits' 8-pixel ResNet20 1.15x / 1.2x; a training step of the shape-texture
world's alexnet_small 1.3x, and of one digits ResNet20 or 8 stacked (grouped convolutions) about
1.2x on an AMD EPYC core (``benchmarks/sweep_throughput.py --contiguous`` for the other layout).
Only the last bits of a result depend on it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def _channels_last_inputs(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(arg.contiguous(memory_format=torch.channels_last)
                 if isinstance(arg, torch.Tensor) and arg.dim() == 4 else arg for arg in args)


def channels_last(model: nn.Module) -> nn.Module:
    """``model`` (in place) with its 4-D weights channels-last and its 4-D inputs made so by a
    forward pre-hook, so that every feature map is too (the weights alone do not carry the layout
    past ResNet20's first convolution). Its state dict keeps its values, in that layout."""
    model.to(memory_format=torch.channels_last)
    model.register_forward_pre_hook(_channels_last_inputs)
    return model


def place_for_evaluation(model: nn.Module, device: torch.device | str) -> nn.Module:
    """``model`` on ``device``, channels-last (:func:`channels_last`), in eval mode."""
    return channels_last(model.to(device)).eval()
