"""Linear dimensionality (section 4.4, appendix A.1.4, Figure 4, A20, A21): the fraction of a
layer's units needed to explain a share of the variance of an activation matrix.

One eigendecomposition per matrix serves every threshold. The component count follows
scikit-learn's ``PCA(n_components=threshold)``: the fewest components whose cumulative explained
variance ratio exceeds the threshold.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

#: The paper's main threshold (95%) and its replications (90%, 99%; Figures A20, A21).
DEFAULT_THRESHOLDS = (0.9, 0.95, 0.99)


def explained_variance_ratio(matrix: torch.Tensor | np.ndarray) -> np.ndarray:
    """Share of the total variance along each principal component of ``matrix`` (samples x
    features), largest first, over ``min(samples, features)`` components, in float64.

    A matrix without variance (constant columns, e.g. a dead layer's activations or an
    unchanged difference matrix) has no components: the result is empty.
    """
    x = torch.as_tensor(matrix).detach().to(torch.float64)
    if x.dim() != 2:
        raise ValueError(f"an activation matrix is 2-D (samples x units), got shape {tuple(x.shape)}")
    x = x - x.mean(dim=0, keepdim=True)
    # The smaller of the two Gram matrices has the same non-zero eigenvalues.
    gram = x.T @ x if x.shape[0] >= x.shape[1] else x @ x.T
    eigenvalues = torch.linalg.eigvalsh(gram).flip(0).clamp_min(0).cpu().numpy()
    total = eigenvalues.sum()
    if total <= 0:
        return np.zeros(0)
    return eigenvalues / total


def components_for_variance(ratios: np.ndarray, thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> list[int]:
    """Per threshold, the fewest leading components whose cumulative ratio exceeds it
    (scikit-learn's rule; capped at the number of components; 0 when there are none)."""
    for threshold in thresholds:
        if not 0 < threshold < 1:
            raise ValueError(f"variance thresholds lie strictly between 0 and 1, got {threshold}")
    if len(ratios) == 0:
        return [0 for _ in thresholds]
    cumulative = np.cumsum(ratios)
    return [int(min(np.searchsorted(cumulative, t, side="right") + 1, len(ratios))) for t in thresholds]


def pca_dimensionality(matrix: torch.Tensor | np.ndarray,
                       thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> list[float]:
    """Fraction of total dimensionality (A.1.4): per threshold, the number of principal
    components explaining that share of the variance, divided by the number of units (columns)."""
    units = np.shape(matrix)[1]
    return [count / units for count in components_for_variance(explained_variance_ratio(matrix), thresholds)]
