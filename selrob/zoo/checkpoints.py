"""Reading downloaded and imported checkpoints as untrusted data, and mapping them onto torchvision.

A robustness-library checkpoint is a pickle (saved with ``dill``) that could run any code when
unpickled the usual way. Here every file is read with ``torch.load(weights_only=True)``, whose
unpickler is the allow-list: tensors, storages, ``OrderedDict`` and plain containers, numbers and
strings, which is all the library's ``train_model`` saves (state dicts, the epoch, accuracies,
``"N/A"`` for amp). A pickle that would load anything else (a function such as ``os.system``, a
class) is refused before it runs, naming what it asked for.

Of a robustness checkpoint only ``model["module.model.*"]`` is kept, prefix stripped;
``module.normalizer.*`` (checked against the entry's mean and std) and ``module.attacker.*`` (a
normaliser and the same weights again) are dropped; any other key is refused. The entry's
:class:`~selrob.zoo.entries.KeyMapping` then renames and drops keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from selrob.data.download import file_digest
from selrob.errors import SelrobError
from selrob.io import load_torch
from selrob.models.state import is_state_dict
from selrob.zoo.entries import KeyMapping, ZooEntry

MODEL_PREFIX = "module.model."
NORMALIZER_PREFIX = "module.normalizer."
DROPPED_PREFIXES = (NORMALIZER_PREFIX, "module.attacker.")
_ROBUSTNESS_LAYOUT = "a robustness-library checkpoint (a dict whose 'model' holds 'module.model.*' weights)"
_TORCHVISION_LAYOUT = "a torchvision state dict (parameter names mapped to tensors)"


def read_untrusted(path: Path) -> Any:
    """The object in a PyTorch file, unpickled without running code (``weights_only=True``), on the CPU."""
    return load_torch(path, foreign="")


def check_sha256(path: Path, prefix: str | None, what: str) -> str:
    """The file's SHA-256; a digest that does not start with the published ``prefix`` (torch.hub's
    ``check_hash``) is refused, naming ``what`` the file is."""
    digest = file_digest(path, "sha256")
    if prefix is not None and not digest.startswith(prefix):
        raise SelrobError(f"checksum mismatch for {what}: expected a SHA-256 starting with {prefix}, got {digest}")
    return digest


def _as_state_dict(obj: Any, origin: Path, entry: ZooEntry, expected: str) -> dict[str, torch.Tensor]:
    if not is_state_dict(obj):
        raise SelrobError(f"{origin} is not {expected}, which {entry.name} expects")
    return dict(obj)


def _robustness_weights(checkpoint: Any, entry: ZooEntry, origin: Path) -> dict[str, torch.Tensor]:
    """``module.model.*`` of a robustness checkpoint, prefix stripped, after checking the normaliser."""
    model = checkpoint.get("model") if isinstance(checkpoint, Mapping) else None
    state = _as_state_dict(model, origin, entry, _ROBUSTNESS_LAYOUT)
    unknown = [key for key in state if not key.startswith((MODEL_PREFIX, *DROPPED_PREFIXES))]
    if unknown or not any(key.startswith(MODEL_PREFIX) for key in state):
        raise SelrobError(f"{origin} is not {_ROBUSTNESS_LAYOUT}, which {entry.name} expects: "
                          f"keys such as {(unknown or list(state))[:3]}")
    expected = {"new_mean": entry.preprocessing.mean, "new_std": entry.preprocessing.std}
    for name, values in expected.items():
        stored = state.get(NORMALIZER_PREFIX + name)
        # The weights are used behind our own normalisation: the one they were trained behind must match.
        if stored is not None and not torch.allclose(stored.flatten().float(), torch.tensor(values), atol=1e-4):
            raise SelrobError(f"{origin} normalises with {name} {stored.flatten().tolist()}, {entry.name} expects {list(values)}")
    return {key[len(MODEL_PREFIX):]: value for key, value in state.items() if key.startswith(MODEL_PREFIX)}


def map_keys(state: Mapping[str, torch.Tensor], mapping: KeyMapping) -> dict[str, torch.Tensor]:
    """``state`` with ``mapping``'s keys dropped and renamed (in that order)."""
    mapped = {}
    for key, value in state.items():
        if any(re.match(pattern, key) for pattern in mapping.drops):
            continue
        for pattern, replacement in mapping.renames:
            key = re.sub(pattern, replacement, key)
        mapped[key] = value
    return mapped


def extract_state_dict(checkpoint: Any, entry: ZooEntry, origin: Path) -> dict[str, torch.Tensor]:
    """The weights of ``checkpoint`` (read from ``origin``) in torchvision's keys for ``entry``;
    a layout other than the entry's format is refused with a one-line error."""
    if entry.checkpoint_format == "robustness":
        state = _robustness_weights(checkpoint, entry, origin)
    else:
        if isinstance(checkpoint, Mapping) and isinstance(checkpoint.get("model"), Mapping):
            raise SelrobError(f"{origin} looks like a robustness-library checkpoint; {entry.name} expects {_TORCHVISION_LAYOUT}")
        state = _as_state_dict(checkpoint, origin, entry, _TORCHVISION_LAYOUT)
    return map_keys(state, entry.key_mapping)
