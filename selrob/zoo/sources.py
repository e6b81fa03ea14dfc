"""Zoo models as model sources (:class:`selrob.store.sources.ModelSource`): every evaluation that
works on a trained run works on a pretrained or imported ImageNet model too."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from selrob import paths
from selrob.data import imagenet
from selrob.data.base import ImageSet
from selrob.models.placement import place_for_evaluation
from selrob.zoo.entries import ZOO_DATASET, ZooEntry, get_entry, get_pair
from selrob.zoo.networks import build_model, dissected_layers
from selrob.zoo.weights import WEIGHTS, load_weights, model_dir, weights_digest


@dataclass(frozen=True)
class ZooModel:
    """One zoo entry's converted weights, evaluated on the ImageNet validation set.

    ``eval_samples`` limits the test set to its first images (``None``: all 50,000); ``runs_root``
    is the runs folder holding ``zoo/<name>/`` (default: :func:`selrob.paths.runs_dir`).
    """

    entry: ZooEntry
    runs_root: Path | None = None
    eval_samples: int | None = None

    @property
    def identity(self) -> dict[str, Any]:
        """What tables key it by: dataset, arch, zoo name, training (standard or robust) and seed (0)."""
        return {"dataset": self.dataset, "arch": self.entry.arch, "model": self.entry.name,
                "training": self.entry.training, "seed": self.seed}

    @property
    def _weights(self) -> str:
        """The first 12 hex digits of the converted weights' SHA-256 (``missing`` before they exist):
        results cached for other weights of the same name (a re-import) are not reused."""
        digest = weights_digest(self.entry, self.runs_root)
        return digest[:12] if digest is not None else "missing"

    @property
    def name(self) -> str:
        """``imagenet/zoo/<name>@<weights>``: the pairs cached with it name these weights."""
        return f"{self.dataset}/zoo/{self.entry.name}@{self._weights}"

    @property
    def dataset(self) -> str:
        return ZOO_DATASET

    @property
    def seed(self) -> int:
        """0: a pretrained model has no training seed of ours; this seeds its evaluations' randomness."""
        return 0

    @property
    def adversarially_trained(self) -> bool:
        """True for the robust (R) models."""
        return self.entry.training == "robust"

    @property
    def dissected_layers(self) -> tuple[str, ...]:
        """The paper's post-ReLU layers of its architecture, in the model :meth:`load_model` builds."""
        return tuple(f"backbone.{name}" for name in dissected_layers(self.entry.arch))

    @property
    def unit_layers(self) -> None:
        """``None``: every ReLU call is a layer of units (paper section 3)."""
        return None

    @property
    def evaluations_dir(self) -> Path:
        """``<runs>/zoo/<name>/evaluations/<weights>``: one folder per converted checkpoint."""
        return model_dir(self.entry, self.runs_root) / "evaluations" / self._weights

    def load_model(self, device: torch.device | str = "cpu") -> nn.Module:
        """The model on [0, 1] images in eval mode, from the converted weights (checked against their
        SHA-256 and read as untrusted data)."""
        origin = str(model_dir(self.entry, self.runs_root) / WEIGHTS)
        return place_for_evaluation(build_model(self.entry, load_weights(self.entry, self.runs_root), origin), device)

    def test_set(self, data_root: str | Path | None = None) -> ImageSet:
        """The ImageNet validation images, preprocessed as the entry says (memory-mapped; the first
        ``eval_samples`` of them if set)."""
        preprocessing = self.entry.preprocessing
        images = imagenet.load_val(paths.data_dir(data_root), preprocessing.resize, preprocessing.crop)
        return images.head(self.eval_samples)


def zoo_model(name: str, runs_root: Path | None = None, eval_samples: int | None = None) -> ZooModel:
    """The model source of the entry called ``name``."""
    return ZooModel(get_entry(name), runs_root, eval_samples)


def pair_sources(pair: str, runs_root: Path | None = None, eval_samples: int | None = None) -> tuple[ZooModel, ZooModel]:
    """``(standard, robust)`` sources of a pair (:data:`selrob.zoo.entries.PAIRS`: ``alexnet``,
    ``googlenet``, ``resnet50`` as in the paper, ``resnet50-salman`` the alternative R model)."""
    chosen = get_pair(pair)
    return zoo_model(chosen.standard, runs_root, eval_samples), zoo_model(chosen.robust, runs_root, eval_samples)
