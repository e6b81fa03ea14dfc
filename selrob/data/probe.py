"""Probe sets for Network Dissection (Bau et al. 2017; the second paper's section 3.3.2): images
with per-pixel and whole-image concept labels, in one interface for Broden
(:mod:`selrob.data.broden`) and the embedded world's own probe set
(:func:`selrob.data.shape_texture.probe_set`).

Concepts are numbered from 1 (0 is "none"), each in one category (object, texture, colour, ...).
Per image, a category's labels are pixel maps at the image's segmentation size (int concept
numbers, 0 unlabelled; several maps may overlap) or whole-image concept numbers, which cover
every pixel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Concepts:
    """``names`` by concept number (0: ``"-"``, none) and each concept's ``category``; a concept
    Broden lists in several categories is counted in the one given here."""

    names: Sequence[str]
    category: Sequence[str]

    @property
    def categories(self) -> list[str]:
        return list(dict.fromkeys(c for c in self.category[1:]))


@dataclass(frozen=True)
class ImageLabels:
    """One probe image's labels at its segmentation ``size`` (h, w): per category, pixel label
    maps and whole-image concept numbers."""

    size: tuple[int, int]
    pixel: Mapping[str, Sequence[np.ndarray]]
    whole: Mapping[str, Sequence[int]]

    def categories(self) -> set[str]:
        return {c for c, maps in self.pixel.items() if len(maps)} | {c for c, numbers in self.whole.items() if numbers}
