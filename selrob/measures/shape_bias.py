"""Cue-conflict shape bias (Geirhos et al. 2019; the second paper's Table 2): on images whose shape
says one class and whose texture another, the share of decisions that follow the shape, the share
that follow the texture, and the shape bias = shape / (shape + texture) decisions.
"""

from __future__ import annotations

import numpy as np

SHAPE, TEXTURE, OTHER = "shape", "texture", "other"


def cue_decisions(predictions: np.ndarray, shape_labels: np.ndarray, texture_labels: np.ndarray) -> np.ndarray:
    """Per image: ``shape`` when the prediction is the shape's class, ``texture`` when it is the
    texture's class, else ``other`` (cue-conflict images only: the two classes differ)."""
    predictions, shapes, textures = (np.asarray(a) for a in (predictions, shape_labels, texture_labels))
    if (shapes == textures).any():
        raise ValueError("cue-conflict images need different shape and texture classes")
    return np.where(predictions == shapes, SHAPE, np.where(predictions == textures, TEXTURE, OTHER))


def shape_bias(decisions: np.ndarray) -> float:
    """Shape decisions / (shape + texture decisions); NaN when no decision follows either cue."""
    decisions = np.asarray(decisions)
    shape, texture = int((decisions == SHAPE).sum()), int((decisions == TEXTURE).sum())
    return shape / (shape + texture) if shape + texture else float("nan")
