"""Device selection: CUDA when present, else CPU."""

from __future__ import annotations

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
