"""Model sources: anything this project can evaluate.

A trained :class:`~selrob.store.runs.Run` is one kind; a pretrained or imported checkpoint is
another. Evaluations and tables see only this interface, so every evaluation works on every kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from selrob.data.base import ImageSet
from selrob.errors import SelrobError


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
    def unit_layers(self) -> tuple[str, ...] | None:
        """Names of the modules of :meth:`load_model`'s network whose outputs are the first paper's
        units (selectivity, dimensionality, unit gradients); ``None``: every ReLU call
        (:class:`~selrob.measures.units.UnitRecorder`)."""
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


@dataclass(frozen=True)
class WrappedSource:
    """``source`` itself, every property and method passed through; subclasses change one thing."""

    source: ModelSource

    @property
    def identity(self) -> dict[str, Any]:
        return self.source.identity

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def dataset(self) -> str:
        return self.source.dataset

    @property
    def seed(self) -> int:
        return self.source.seed

    @property
    def adversarially_trained(self) -> bool:
        return self.source.adversarially_trained

    @property
    def dissected_layers(self) -> tuple[str, ...]:
        return self.source.dissected_layers

    @property
    def unit_layers(self) -> tuple[str, ...] | None:
        return self.source.unit_layers

    @property
    def eval_samples(self) -> int | None:
        return self.source.eval_samples

    @property
    def evaluations_dir(self) -> Path:
        return self.source.evaluations_dir

    def load_model(self, device: torch.device | str = "cpu") -> nn.Module:
        return self.source.load_model(device)

    def test_set(self, data_root: str | Path | None = None) -> ImageSet:
        return self.source.test_set(data_root)


@dataclass(frozen=True)
class FirstTestImages(WrappedSource):
    """``source`` evaluated on the first ``count`` images of each test set (``selrob evaluate
    --max-eval-samples``): the same model, identity and keys in tables; its own evaluation cache,
    ``<source's>/first-<count>``, so results on other image counts are never mixed."""

    count: int

    def __post_init__(self) -> None:
        if self.count < 1:
            raise SelrobError(f"max_eval_samples must be at least 1, got {self.count}")

    @property
    def name(self) -> str:
        return f"{self.source.name}@first-{self.count}"

    @property
    def eval_samples(self) -> int:
        return self.count

    @property
    def evaluations_dir(self) -> Path:
        return self.source.evaluations_dir / f"first-{self.count}"

    def test_set(self, data_root: str | Path | None = None) -> ImageSet:
        return self.source.test_set(data_root).head(self.count)


@dataclass(frozen=True)
class Relabelled(WrappedSource):
    """``source`` with another ``arch`` in tables (its results and their cache unchanged): the two
    models of a researcher's pair carry the pair's name, so that pairwise evaluations
    (:func:`~selrob.evaluations.correct_subset.robustness_pairings`, by dataset, arch and seed) and
    the pair tables match them whatever their architectures."""

    arch: str

    @property
    def identity(self) -> dict[str, Any]:
        return {**self.source.identity, "arch": self.arch}


def first_test_images(source: ModelSource, count: int | None) -> ModelSource:
    """``source`` evaluated on the first ``count`` of the test images it is evaluated on
    (:class:`FirstTestImages`); itself when ``count`` is ``None`` or that number already."""
    if count is None or count == source.eval_samples:
        return source
    if source.eval_samples is not None and count > source.eval_samples:
        raise SelrobError(f"max_eval_samples {count} is more than the {source.eval_samples} test images {source.name} "
                          f"is evaluated on; choose at most {source.eval_samples}")
    return FirstTestImages(source, count)
