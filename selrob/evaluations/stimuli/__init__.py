"""What each dataset gives the second paper's evaluations (one :class:`PairStimuli` per dataset):
its Network Dissection probe set, its cue-conflict images with the rule that turns a model's
output into a decision among its categories, how its distorted images are scored, the galleries
drawn from its own images and the checks for external data it needs.

* ``shapes`` (:mod:`.world`): the embedded world's probe set and 900 cue-conflict images with a
  non-conflict control each, decided by the top-1 of the world's 10 classes;
* ``imagenet`` (:mod:`.imagenet`): Broden and Geirhos et al.'s 1,280 stimuli, decided among the 16
  categories by the mean softmax probability per category (:mod:`selrob.measures.human_categories`).

The evaluations and tables ask :func:`stimuli_for` and never compare a dataset's name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from selrob.data.base import ImageSet
from selrob.data.probe import Concepts, ImageLabels
from selrob.errors import SelrobError
from selrob.measures.ablation import Decide

#: Probe batches: a function returning a fresh iterator of (uint8 images, their labels).
Batches = Callable[[], Iterator[tuple[torch.Tensor, list[ImageLabels]]]]
#: Probe images per forward pass.
PROBE_BATCH = 64


@dataclass(frozen=True)
class ProbeSet:
    """A Network Dissection probe set, read from the data folder: what names it (a cache key),
    its concepts, its images in batches (the first ``count`` when given) and the images numbered
    ``indices``. ``layers_per_group`` layers are dissected in one set of passes (``None``: all)."""

    describe: Callable[[Path], str]
    concepts: Callable[[Path], Concepts]
    batches: Callable[[Path, int | None], Batches]
    images: Callable[[Path, Sequence[int], int | None], torch.Tensor]
    layers_per_group: int | None


@dataclass(frozen=True)
class CueConflictImages:
    """Cue-conflict images (uint8, N x 3 x H x W, the shape's category as label), each image's
    texture category and whether it conflicts, how a model's logits become a decision, and each
    image's file where it has one."""

    data: ImageSet
    textures: torch.Tensor
    conflict: torch.Tensor
    decide: Decide
    files: tuple[str, ...] = ()


#: A gallery: per row (a shape), the images' numbers in the set and their uint8 (H, W, 3) pictures
#: and texture captions, and the column titles.
Gallery = tuple[dict[str, list[int]], dict[str, np.ndarray], dict[str, list[str]], list[str]]


@dataclass(frozen=True)
class CueConflictSet:
    """A dataset's cue-conflict images and decision rule (Table 2, Figs 4b and 5).

    ``key(preprocessing)`` names the images and the rule (cache keys hold it); ``images(data
    root, preprocessing, progress)`` loads them; ``controls`` gives each conflict image's
    non-conflict control (the shape in its own texture) where they are a set of their own
    (``None``: the non-conflict images are in the set); ``gallery(data root, columns)`` picks
    the images a gallery shows."""

    categories: tuple[str, ...]
    key: Callable[[str], dict[str, Any]]
    images: Callable[[Path, str, bool], CueConflictImages]
    controls: Callable[[], ImageSet] | None
    gallery: Callable[[Path, int], Gallery]


@dataclass(frozen=True)
class PairStimuli:
    """Everything the second paper's evaluations take from one dataset.

    ``sixteen_class_types``: distorted image types scored by their 16-category decision;
    ``table3_evaluations``: evaluations beyond the shared ones that add Table 3 columns;
    ``own_galleries``: whether its test images make the distortion and scrambled galleries (Figs 1,
    A6); ``needs``: per external set a notebook may need, why it is missing (``None``: present)."""

    dataset: str
    probe: ProbeSet
    cue_conflict: CueConflictSet
    sixteen_class_types: frozenset[str] = frozenset()
    table3_evaluations: tuple[str, ...] = ()
    own_galleries: bool = False
    needs: Mapping[str, Callable[[Path], str | None]] = field(default_factory=dict)

    def missing(self, data_root: Path, needs: Sequence[str]) -> list[str]:
        """Why each of the external sets ``needs`` is missing (nothing for one that is there)."""
        unknown = [need for need in needs if need not in self.needs]
        if unknown:
            raise SelrobError(f"{self.dataset} needs no {', '.join(unknown)}; its external sets are "
                              f"{', '.join(self.needs) or 'none'}")
        return [reason for need in needs if (reason := self.needs[need](data_root)) is not None]


def every_stimuli() -> dict[str, PairStimuli]:
    """The datasets with the second paper's stimuli, by name."""
    from selrob.evaluations.stimuli.imagenet import IMAGENET
    from selrob.evaluations.stimuli.world import WORLD

    return {stimuli.dataset: stimuli for stimuli in (WORLD, IMAGENET)}


def without_stimuli(dataset: str, purpose: str = "the second paper's evaluations") -> str | None:
    """Why ``dataset``'s models get none of the evaluations that need stimuli (``None``: they do)."""
    known = every_stimuli()
    if dataset in known:
        return None
    return (f"no probe set or cue-conflict images for {dataset} models (needed by {purpose}); the second paper's "
            f"stimuli exist for {' and '.join(known)} models")


def stimuli_for(dataset: str, purpose: str = "the second paper's evaluations") -> PairStimuli:
    """The stimuli of ``dataset``, or one line saying which datasets have them."""
    reason = without_stimuli(dataset, purpose)
    if reason is not None:
        raise SelrobError(reason)
    return every_stimuli()[dataset]
