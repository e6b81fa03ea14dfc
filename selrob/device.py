"""Device selection: CUDA when present, else CPU; and what training does differently on CUDA."""

from __future__ import annotations

import os

import torch

from selrob.errors import SelrobError


def resolve_device(name: str | torch.device | None = None) -> torch.device:
    """``None``/``"auto"`` picks CUDA if available; an explicit CUDA request without a GPU is an error."""
    if name is None or str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SelrobError(f"unknown device {name!r}; use auto, cpu or cuda[:N]") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SelrobError(f"device {name!r} requested but no CUDA GPU is available")
    return device


def device_description(device: torch.device) -> str:
    """Human-readable device name for result files and benchmarks."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return f"cpu: {line.split(':', 1)[1].strip()} ({torch.get_num_threads()} threads)"
    except OSError:
        pass
    return f"cpu ({torch.get_num_threads()} threads)"


#: ``SELROB_BF16``: ``1`` trains in bf16 autocast on any device (a CPU with bf16 units; tests reach
#: the CUDA path's casts on the CPU), ``0`` never; unset, on CUDA only.
BF16_VARIABLE = "SELROB_BF16"


def mixed_precision(device: torch.device) -> bool:
    """Whether training on ``device`` runs its forward passes (and the attacks that make its
    adversarial inputs) in bf16 autocast: on CUDA, unless :data:`BF16_VARIABLE` says otherwise."""
    value = os.environ.get(BF16_VARIABLE, "")
    if value not in ("", "0", "1"):
        raise SelrobError(f"{BF16_VARIABLE}={value!r} is not allowed; use 1 (bf16 on any device), 0 (never) or leave "
                          "it unset (on CUDA)")
    return device.type == "cuda" if value == "" else value == "1"


def training_autocast(device: torch.device) -> torch.autocast:
    """bf16 autocast on ``device`` for a training forward pass, enabled by :func:`mixed_precision`."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=mixed_precision(device))


def check_environment() -> None:
    """The settings read from the environment (:data:`BF16_VARIABLE`), checked before a command
    does any work: a bad value is one error, and nothing is written."""
    mixed_precision(torch.device("cpu"))
