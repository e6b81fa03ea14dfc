"""Model sources: anything this project can evaluate.

A trained :class:`~selrob.store.runs.Run` is one kind; a pretrained or imported checkpoint is
another. Evaluations and tables see only this interface, so every evaluation works on every kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from selrob.data.base import ImageSet


@runtime_checkable
class ModelSource(Protocol):
    """A model with its identity, its test set and the folder of its cached evaluations."""

    @property
    def identity(self) -> dict[str, Any]:
        """The keys that identify it in tables (e.g. dataset, arch, protocol, alpha, seed)."""
        ...

    @property
    def name(self) -> str:
        """A unique, stable name (used in the cache keys of evaluations of pairs)."""
        ...

    @property
    def dataset(self) -> str:
        """The dataset it classifies (selects attack presets and corrupted sets)."""
        ...

    @property
    def seed(self) -> int:
        """Seeds the randomness of its evaluations (PGD's random start)."""
        ...

    @property
    def adversarially_trained(self) -> bool:
        """True for a robust (R) model of the second paper, trained on adversarial examples."""
        ...

    @property
    def dissected_layers(self) -> tuple[str, ...]:
        """Names of the post-ReLU modules of :meth:`load_model`'s network that the second paper's
        layer-wise analyses read (activation smoothness, Network Dissection)."""
        ...

    @property
    def eval_samples(self) -> int | None:
        """How many images of each test set it is evaluated on; ``None``: all."""
        ...

    @property
    def evaluations_dir(self) -> Path:
        """Where its evaluations are cached."""
        ...

    def load_model(self, device: torch.device | str = "cpu") -> nn.Module:
        """The model in eval mode on ``device``, its weights loaded as untrusted data."""
        ...

    def test_set(self, data_root: str | Path | None = None) -> ImageSet:
        """The clean test images it is evaluated on."""
        ...
