"""A stand-in for :class:`selrob.store.sources.ModelSource` (a trained run, a zoo model): any
network, test set and identity, no run folder, and a count of its model loads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from selrob.data.base import ImageSet
    from selrob.store.sources import ModelSource


@dataclass(eq=False)
class FakeSource:
    """A model source around ``model``: a module (the same one at every load) or a function that
    builds one (a new one at every load; seed the random weights inside it). ``loads`` counts
    :meth:`load_model`'s calls, so that tests can tell a cached evaluation from a recomputed one.

    By default it is a standard (``adversarially_trained=False``) tiny shapes model of seed 0,
    named ``tiny-S-0`` (``-R-`` when adversarially trained) with the identity of a run (dataset,
    arch, training, seed); pass ``identity`` or ``name`` to replace them. Its evaluations are cached
    in ``root / name``: sources of different names made on one ``root`` never share a cache. Sources
    compare equal only to themselves, as robustness pairings expect. :meth:`test_set` is ``data``;
    without it, an evaluation that asks for the test set fails."""

    root: Path
    model: nn.Module | Callable[[], nn.Module]
    dataset: str = "shapes"
    arch: str = "tiny"
    seed: int = 0
    adversarially_trained: bool = False
    dissected_layers: tuple[str, ...] = ()
    unit_layers: tuple[str, ...] | None = None
    data: ImageSet | None = None
    eval_samples: int | None = None
    identity: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    loads: int = 0

    def __post_init__(self) -> None:
        if not self.identity:
            self.identity = {"dataset": self.dataset, "arch": self.arch,
                             "training": "robust" if self.adversarially_trained else "standard", "seed": self.seed}
        if not self.name:
            self.name = f"{self.arch}-{'R' if self.adversarially_trained else 'S'}-{self.seed}"

    @property
    def evaluations_dir(self) -> Path:
        return self.root / self.name

    def load_model(self, device: torch.device | str = "cpu") -> nn.Module:
        self.loads += 1
        model = self.model if isinstance(self.model, nn.Module) else self.model()
        return model.to(device).eval()

    def test_set(self, data_root: str | Path | None = None) -> ImageSet:
        if self.data is None:
            raise NotImplementedError(f"the fake source {self.name} has no test set: give it data")
        return self.data


def _is_a_model_source(source: FakeSource) -> ModelSource:
    """A type checker's proof that :class:`FakeSource` has everything the evaluations read."""
    return source
