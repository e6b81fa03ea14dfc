"""Loading weights read from elsewhere into a network: every key must match."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from torch.nn.parameter import is_lazy

from selrob.errors import SelrobError


def is_state_dict(obj: object) -> bool:
    """Whether ``obj`` is a non-empty mapping of parameter names to tensors."""
    return isinstance(obj, Mapping) and bool(obj) and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                          for k, v in obj.items())


def load_strictly(network: nn.Module, state: Mapping[str, torch.Tensor], origin: str, what: str) -> None:
    """Load ``state`` into ``network`` (``what`` it is, for messages): every key must match, in
    name and shape, else a one-line error naming ``origin``, the first key of another shape (both
    shapes) and the first missing and unexpected keys. (A missing BatchNorm ``num_batches_tracked``
    counter, absent from older files, is filled in by PyTorch and is no mismatch.)"""
    own = network.state_dict()
    reshaped = [key for key, value in state.items()  # a lazy module's parameters take any shape until it runs
                if key in own and not is_lazy(own[key]) and tuple(value.shape) != tuple(own[key].shape)]
    if reshaped:
        missing = [key for key in own if key not in state and not key.endswith("num_batches_tracked")]
        unexpected = [key for key in state if key not in own]
        first = reshaped[0]
        raise SelrobError(f"{origin} does not fit {what}: size mismatch for {first} ({list(state[first].shape)} in the "
                          f"file, {list(own[first].shape)} in the model; {len(reshaped)} keys of other shapes), "
                          f"{len(missing)} missing keys {missing[:3]}, {len(unexpected)} unexpected {unexpected[:3]}")
    result = network.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise SelrobError(f"{origin} does not fit {what}: {len(result.missing_keys)} missing keys "
                          f"{result.missing_keys[:3]}, {len(result.unexpected_keys)} unexpected {result.unexpected_keys[:3]}")
