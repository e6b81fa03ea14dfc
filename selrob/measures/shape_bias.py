"""Cue-conflict shape bias (Geirhos et al. 2019; the second paper's Table 2): on images whose shape
says one class and whose texture another, the share of decisions that follow the shape, the share
that follow the texture, and the shape bias = shape / (shape + texture) decisions.

Following the texture-vs-shape README and model-vs-human's ``ShapeBias``, only cue-conflict images
count and, of them, only those decided by one of the two cues; Table 2's "shape" and "texture"
columns are the two shares of those decisions (they sum to 1). :func:`cue_shares` adds a bootstrap
interval over images, :func:`cue_shares_across_seeds` a hierarchical one over seeds and images.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from selrob.stats import bootstrap_ci, proportion_ci_across_seeds

SHAPE, TEXTURE, OTHER = "shape", "texture", "other"


def cue_decisions(predictions: np.ndarray, shape_labels: np.ndarray, texture_labels: np.ndarray) -> np.ndarray:
    """Per image: ``shape`` when the prediction is the shape's class, ``texture`` when it is the
    texture's class, else ``other`` (cue-conflict images only: the two classes differ)."""
    predictions, shapes, textures = (np.asarray(a) for a in (predictions, shape_labels, texture_labels))
    if (shapes == textures).any():
        raise ValueError("cue-conflict images need different shape and texture classes")
    return np.where(predictions == shapes, SHAPE, np.where(predictions == textures, TEXTURE, OTHER))


def _follows_shape(decisions: np.ndarray) -> np.ndarray:
    """Bool per image decided by a cue (``other`` dropped): True where that cue is the shape."""
    decisions = np.asarray(decisions)
    return decisions[np.isin(decisions, (SHAPE, TEXTURE))] == SHAPE


def shape_bias(decisions: np.ndarray) -> float:
    """Shape decisions / (shape + texture decisions); NaN when no decision follows either cue."""
    follows = _follows_shape(decisions)
    return float(follows.mean()) if follows.size else float("nan")


@dataclass(frozen=True)
class CueShares:
    """Table 2's two shares of one model (or the mean over its seeds) with their intervals.

    ``shape`` is the shape bias and ``texture = 1 - shape``; ``shape_low`` / ``shape_high`` bound
    the shape share (the texture interval is its mirror image). ``decided`` counts the decisions
    that followed a cue, ``images`` all the cue-conflict decisions counted, both summed over the
    ``seeds``. With no decision by either cue every share is NaN: the bias is undefined, not 0.
    """

    shape: float
    shape_low: float
    shape_high: float
    decided: int
    images: int
    seeds: int

    @property
    def texture(self) -> float:
        return 1.0 - self.shape

    @property
    def texture_low(self) -> float:
        return 1.0 - self.shape_high

    @property
    def texture_high(self) -> float:
        return 1.0 - self.shape_low


def cue_shares(decisions: np.ndarray, confidence: float = 0.95, n_resamples: int = 10_000,
               seed: int = 0) -> CueShares:
    """The shape and texture shares of one model's :func:`cue_decisions`, with the percentile
    bootstrap interval (:func:`selrob.stats.bootstrap_ci`, deterministic by ``seed``) over the
    images decided by a cue. Their number is held fixed: the interval of a proportion given the
    decided images (Geirhos et al. report the share of those decisions)."""
    decisions = np.asarray(decisions)
    follows = _follows_shape(decisions)
    if not follows.size:
        return CueShares(math.nan, math.nan, math.nan, 0, decisions.size, 1)
    share, low, high = bootstrap_ci(follows, confidence, n_resamples, seed)
    return CueShares(share, low, high, int(follows.size), int(decisions.size), 1)


def cue_shares_across_seeds(per_seed: Sequence[np.ndarray], confidence: float = 0.95, n_resamples: int = 10_000,
                            seed: int = 0) -> CueShares:
    """The mean over training seeds of each seed's shares, with the hierarchical bootstrap over
    seeds and images of :func:`selrob.stats.proportion_ci_across_seeds`. Seeds with no decision
    by either cue are left out (their share is undefined); one seed is :func:`cue_shares`."""
    if len(per_seed) == 1:
        return cue_shares(per_seed[0], confidence, n_resamples, seed)
    images = sum(int(np.asarray(decisions).size) for decisions in per_seed)
    follows = [f for f in map(_follows_shape, per_seed) if f.size]
    if not follows:
        return CueShares(math.nan, math.nan, math.nan, 0, images, len(per_seed))
    share, low, high = proportion_ci_across_seeds(follows, confidence, n_resamples, seed)
    return CueShares(share, low, high, sum(f.size for f in follows), images, len(per_seed))
