"""Matching first-layer filters of a standard and a robust model (the second paper's Fig 2, A2):
for each standard filter, the robust filter whose flattened weights have the highest Spearman
rank correlation with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from selrob.errors import SelrobError


def spearman_matrix(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of every row of ``first`` (N, D) with every row of ``second``
    (M, D): the Pearson correlation of their ranks (ties get their average rank, as
    ``scipy.stats.spearmanr``). A constant row has no defined correlation and gets NaN."""
    if first.ndim != 2 or second.ndim != 2 or first.shape[1] != second.shape[1]:
        raise SelrobError(f"need two (filters, values) arrays of equal width, got {first.shape} and {second.shape}")

    def standardised(rows: np.ndarray) -> np.ndarray:
        ranks = rankdata(rows, axis=1)
        centred = ranks - ranks.mean(axis=1, keepdims=True)
        norms = np.linalg.norm(centred, axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return centred / norms

    return standardised(first.astype(np.float64)) @ standardised(second.astype(np.float64)).T


@dataclass(frozen=True)
class FilterMatches:
    """Per standard filter: the index of its best robust match and their Spearman ``r``."""

    match: np.ndarray
    r: np.ndarray


def match_filters(standard: np.ndarray, robust: np.ndarray) -> FilterMatches:
    """For each filter of ``standard`` (N, C, k, k), the filter of ``robust`` (M, C, k, k) with
    the highest Spearman rank correlation of the flattened weights (Fig 2). Several standard
    filters may match the same robust one, as in the paper."""
    if standard.shape[1:] != robust.shape[1:]:
        raise SelrobError(f"filters of shapes {standard.shape[1:]} and {robust.shape[1:]} cannot be matched")
    r = spearman_matrix(standard.reshape(len(standard), -1), robust.reshape(len(robust), -1))
    best = np.argmax(np.where(np.isnan(r), -np.inf, r), axis=1)
    return FilterMatches(best, r[np.arange(len(standard)), best])
