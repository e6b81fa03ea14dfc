"""A researcher's weights file, read as untrusted data and fitted to their architecture.

The file is unpickled with ``weights_only=True`` (no code runs: :func:`selrob.io.load_torch`).
It may be a state dict or a checkpoint holding one under ``state_dict``, ``model_state_dict``,
``model`` or ``net`` (what training scripts commonly save). Keys saved from a wrapped model
(``nn.DataParallel``'s ``module.``, a Lightning module's ``model.``) lose those prefixes when the
architecture's own keys do not start with them; then every key must match, in name and shape.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from selrob.errors import SelrobError
from selrob.io import load_torch
from selrob.models.state import is_state_dict, load_strictly

#: Where checkpoints commonly keep the state dict, checked in this order.
STATE_KEYS = ("state_dict", "model_state_dict", "model", "net")
#: Prefixes of wrapped models' keys.
WRAPPER_PREFIXES = ("module.", "model.")


def read_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict in ``path`` (or in its checkpoint's ``state_dict`` ... entry), read without
    running code; one line when the file holds none."""
    path = Path(path)
    if not path.is_file():
        raise SelrobError(f"weights file {path} does not exist")
    obj = load_torch(path, foreign="save the model's state_dict() (torch.save(model.state_dict(), path)), not the model")
    for candidate in (obj, *(obj.get(key) for key in STATE_KEYS if isinstance(obj, Mapping))):
        if is_state_dict(candidate):
            return dict(candidate)
    raise SelrobError(f"{path} holds no state dict (parameter names mapped to tensors), neither itself nor under "
                      f"{', '.join(STATE_KEYS)}")


def _unwrapped(state: Mapping[str, torch.Tensor], expected: set[str]) -> dict[str, torch.Tensor]:
    """``state`` without the wrapper prefixes that every key carries and no expected key does."""
    state = dict(state)
    while True:
        prefix = next((p for p in WRAPPER_PREFIXES if all(k.startswith(p) for k in state)
                       and not any(k.startswith(p) for k in expected)), None)
        if prefix is None:
            return state
        state = {key[len(prefix):]: value for key, value in state.items()}


def fit_state(network: nn.Module, state: Mapping[str, torch.Tensor], origin: str, what: str) -> None:
    """Load ``state`` (read from ``origin``; prefixes stripped) into ``network`` (``what`` it is) strictly."""
    load_strictly(network, _unwrapped(state, set(network.state_dict())), origin, what)


def state_digest(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of a state dict's names, dtypes, shapes and values (in key order): what the cached
    evaluations of a model are keyed by, the same whichever file or object the weights came from."""
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
