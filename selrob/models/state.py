"""Loading weights read from elsewhere into a network: every key must match."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from selrob.errors import SelrobError


def is_state_dict(obj: object) -> bool:
    """Whether ``obj`` is a non-empty mapping of parameter names to tensors."""
    return isinstance(obj, Mapping) and bool(obj) and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                          for k, v in obj.items())


def load_strictly(network: nn.Module, state: Mapping[str, torch.Tensor], origin: str, what: str) -> None:
    """Load ``state`` into ``network`` (``what`` it is, for messages): every key must match, in
    name and shape, else a one-line error naming ``origin`` and the first missing and unexpected
    keys. (A missing BatchNorm ``num_batches_tracked`` counter, absent from older files, is filled
    in by PyTorch and is no mismatch.)"""
    try:
        result = network.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches raise even when not strict
        mismatch = next((line.strip() for line in str(err).splitlines() if "size mismatch" in line), str(err))
        raise SelrobError(f"{origin} does not fit {what}: {mismatch}") from None
    if result.missing_keys or result.unexpected_keys:
        raise SelrobError(f"{origin} does not fit {what}: {len(result.missing_keys)} missing keys "
                          f"{result.missing_keys[:3]}, {len(result.unexpected_keys)} unexpected {result.unexpected_keys[:3]}")
