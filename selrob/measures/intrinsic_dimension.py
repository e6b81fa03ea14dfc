"""Intrinsic dimensionality (section 4.4, appendix A.1.4, Figure A22): the TwoNN estimator of
Facco et al. (2017) as used by Ansuini et al. (2019).

For every point, r1 and r2 are the distances to its first and second nearest neighbours and
mu = r2 / r1. Points with r1 = 0 (duplicates) or r1 = r2 are discarded; the rest are sorted by mu,
given the empirical distribution F_i = i / N (i = 1..N), and d is the slope of the least-squares
line through the origin of -log(1 - F) against log(mu) over the smallest ``fit_fraction`` of mu.
On data without ties this is scikit-dimension's ``skdim.id.TwoNN(discard_fraction=0.1)``.

The neighbour search is exact and runs on any device in blocks of rows, so the memory it needs
is bounded whatever the number of points or their width:

1. Duplicate rows are merged (with their counts), so a big group of identical points costs one.
2. Many wide points (more than twice ``sketch_dims`` features) are described by ``sketch_dims``
   coordinates in a randomized principal subspace plus the norm of what that subspace misses.
   Distances between these descriptions are lower bounds of the true distances; narrow points are
   their own description.
3. Per block of rows, float32 lower bounds to every point pick a few candidates (3, or 8 for
   sketched points of up to 256 features). Their exact distances (from float32 differences, not
   the ``|x|^2 + |y|^2 - 2xy`` expansion, so equal points are at distance exactly 0) are
   computed; the second smallest caps r2. A row is settled once every point not evaluated has a
   lower bound, less a float32 rounding margin, above that cap; the rare rows that are not get
   the exact distance to every point whose bound is not.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from selrob.device import resolve_device

#: Float32 rounding margin of a lower bound, relative to the squared norms it came from
#: (about 170 float32 ulps: a 65-term dot product's worst case is far below).
_ROUNDING_MARGIN = 1e-5
#: Bounds computed at once: blocks that stay in a CPU's last-level cache are faster to select
#: from; a GPU prefers fewer, bigger kernels.
_MEMORY_BYTES = {"cpu": 32 * 2**20, "cuda": 256 * 2**20}
_CACHE_BYTES = 8 * 2**20
#: Candidates per point, by lower bound, whose exact distances are computed first: 3, or 8 with
#: sketched bounds of points of up to 256 features. Sketched bounds are loose, so 3 candidates
#: leave many points to a pass over every bound; more candidates settle them, but each costs a
#: pass over the point's features (on 10k points, 8 were fastest at 64 features, 3 at 4096).
_CANDIDATES, _SKETCHED_CANDIDATES, _SKETCHED_CANDIDATES_MAX_WIDTH = 3, 8, 256
#: Columns per group when the smallest bounds of a row are picked among its groups' minima.
_GROUP = 32
#: Below this many points exact bounds (the points themselves) cost less than a sketch.
_SKETCH_MIN_POINTS = 2048


def two_nn_fit(r1: np.ndarray, r2: np.ndarray, fit_fraction: float = 0.9) -> float:
    """TwoNN's estimate from first and second neighbour distances (see the module docstring).

    NaN when fewer than two points are left to fit (for instance a matrix of identical rows).
    """
    if not 0 < fit_fraction < 1:
        raise ValueError(f"fit_fraction must lie strictly between 0 and 1, got {fit_fraction}")
    r1, r2 = np.asarray(r1, dtype=np.float64), np.asarray(r2, dtype=np.float64)
    keep = (r1 > 0) & (r2 > r1)
    mu = np.sort(r2[keep] / r1[keep])
    fitted = int(len(mu) * fit_fraction)
    if fitted < 2:
        return math.nan
    x = np.log(mu[:fitted])
    y = -np.log(1 - np.arange(1, fitted + 1) / len(mu))
    return float(x @ y / (x @ x))


def two_nn_dimension(points: torch.Tensor | np.ndarray, fit_fraction: float = 0.9,
                     device: str | torch.device | None = None) -> float:
    """TwoNN intrinsic dimension of ``points`` (samples x features)."""
    r1, r2 = two_nearest_neighbour_distances(points, device)
    return two_nn_fit(r1, r2, fit_fraction)


def two_nearest_neighbour_distances(points: torch.Tensor | np.ndarray, device: str | torch.device | None = None,
                                    sketch_dims: int = 16, seed: int = 0,
                                    memory_bytes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact Euclidean distances ``(r1, r2)`` of every point to its nearest and second-nearest
    other point (float64 arrays; a duplicate point has r1 = 0). ``seed`` fixes the random sketch
    and ``memory_bytes`` (default: 32 MiB on a CPU, 256 MiB on a GPU) bounds a block of bounds;
    both change only the speed, never the result."""
    x = torch.as_tensor(points).detach()
    if x.dim() != 2 or x.shape[0] < 3:
        raise ValueError(f"TwoNN needs a 2-D array of at least 3 points, got shape {tuple(x.shape)}")
    x = x.to(resolve_device(device), torch.float32)
    # A sum is NaN or infinite when any term is (one cheap pass); points whose float32 sum
    # overflows would overflow the float32 squared distances as well.
    if not bool(torch.isfinite(x.sum())):
        raise ValueError("TwoNN needs finite points; these contain NaN or infinity, or are too large for float32")
    memory_bytes = memory_bytes or _MEMORY_BYTES.get(x.device.type, _MEMORY_BYTES["cuda"])
    unique, inverse, counts = torch.unique(x, dim=0, return_inverse=True, return_counts=True)
    r1 = torch.zeros(len(x), dtype=torch.float64, device=x.device)
    r2 = torch.zeros_like(r1)
    if len(unique) >= 3:
        first, second, first_index = _unique_neighbours(unique, sketch_dims, seed, memory_bytes)
        # A point's second neighbour is its first again when that one occurs twice or more.
        second = torch.where(counts[first_index] > 1, first, second)
    elif len(unique) == 2:  # every point's nearest distinct point is the other value
        gap = (unique[0].double() - unique[1].double()).norm()
        first = second = gap.expand(2)
    if len(unique) >= 2:
        # A point that occurs once has both neighbours elsewhere; twice, its copy then the
        # nearest other value; more often, two copies at distance 0.
        count = counts[inverse]
        r1 = torch.where(count == 1, first[inverse], r1)
        r2 = torch.where(count == 1, second[inverse], torch.where(count == 2, first[inverse], r2))
    return r1.cpu().numpy(), r2.cpu().numpy()


def _unique_neighbours(x: torch.Tensor, sketch_dims: int, seed: int,
                       memory_bytes: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For distinct points ``x``: exact first and second neighbour distances and the first
    neighbour's index."""
    n = len(x)
    features = _lower_bound_features(x, sketch_dims, seed)
    squared = features.double().pow(2).sum(dim=1)
    squared32 = squared.float()
    margin_of_largest = _ROUNDING_MARGIN * squared.max()
    many = _sketched(*x.shape, sketch_dims) and x.shape[1] <= _SKETCHED_CANDIDATES_MAX_WIDTH
    evaluated = min(_SKETCHED_CANDIDATES if many else _CANDIDATES, n - 1)
    rows_per_block = max(1, min(n, memory_bytes // (4 * n)))
    first = torch.empty(n, dtype=torch.float64, device=x.device)
    second = torch.empty_like(first)
    first_index = torch.empty(n, dtype=torch.long, device=x.device)
    for start in range(0, n, rows_per_block):
        rows = torch.arange(start, min(n, start + rows_per_block), device=x.device)
        # |y|^2 - 2 x.y: the squared lower bound less the row's constant |x|^2.
        partial = torch.addmm(squared32[None, :], features[rows], features.T, alpha=-2)
        partial[torch.arange(len(rows), device=x.device), rows] = math.inf
        bounds, candidates = _smallest(partial, min(evaluated + 1, n - 1))
        exact = _exact_distances(x, rows.repeat_interleave(evaluated), candidates[:, :evaluated].flatten(),
                                 memory_bytes).view(len(rows), evaluated)
        nearest, position = exact.topk(2, dim=1, largest=False)
        first[rows], second[rows] = nearest[:, 0], nearest[:, 1]
        first_index[rows] = candidates.gather(1, position[:, :1]).squeeze(1)
        # The second smallest exact distance caps r2. A row is settled when every point not
        # evaluated has a lower bound (less the rounding margin) above the cap; the others look
        # at every point whose bound is not.
        local_squared = squared[rows]
        threshold = nearest[:, 1].pow(2) - local_squared + margin_of_largest + _ROUNDING_MARGIN * local_squared
        if evaluated < n - 1:
            unsettled = (bounds[:, evaluated].double() <= threshold).nonzero().squeeze(1)
            if len(unsettled):
                _settle_by_every_bound(x, rows[unsettled], partial[unsettled], threshold[unsettled], first, second,
                                       first_index, memory_bytes)
    return first, second, first_index


def _smallest(values: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``values.topk(k, dim=1, largest=False)`` (the values exactly; among equal values any
    indices), about twice as fast on a CPU: the k smallest values of a row lie in the k groups of
    columns with the smallest minima, so only those groups are searched. Columns ``j`` with the
    same ``j mod (n // _GROUP)`` form a group; the last ``n mod _GROUP`` columns are searched too."""
    rows, n = values.shape
    groups = n // _GROUP
    if groups < 4 * k:
        return values.topk(k, dim=1, largest=False)
    body = groups * _GROUP
    minima = values[:, :body].view(rows, _GROUP, groups).amin(dim=1)
    chosen = minima.topk(k, dim=1, largest=False).indices
    offsets = torch.arange(0, body, groups, device=values.device)
    columns = (offsets[None, :, None] + chosen[:, None, :]).reshape(rows, -1)
    if body < n:
        columns = torch.cat([columns, torch.arange(body, n, device=values.device).expand(rows, -1)], dim=1)
    smallest, position = values.gather(1, columns).topk(k, dim=1, largest=False)
    return smallest, columns.gather(1, position)


def _settle_by_every_bound(x: torch.Tensor, rows: torch.Tensor, partial: torch.Tensor, threshold: torch.Tensor,
                           first: torch.Tensor, second: torch.Tensor, first_index: torch.Tensor,
                           memory_bytes: int) -> None:
    """Rows whose kept candidates did not settle them: exact distances to every point whose lower
    bound is not above the row's threshold."""
    local, columns = (partial.double() <= threshold[:, None]).nonzero(as_tuple=True)
    distances = _exact_distances(x, rows[local], columns, memory_bytes)
    # Group by row, nearest first: stable sorts by distance, then by row.
    order = distances.argsort(stable=True)
    order = order[local[order].argsort(stable=True)]
    per_row = torch.bincount(local, minlength=len(rows))
    starts = torch.cumsum(per_row, 0) - per_row
    first[rows] = distances[order[starts]]
    second[rows] = distances[order[starts + 1]]
    first_index[rows] = columns[order[starts]]


def _sketched(points: int, width: int, sketch_dims: int) -> bool:
    """Whether the lower bounds come from a sketch (below this many points, or this narrow,
    exact bounds from the points themselves cost less)."""
    return width > 2 * sketch_dims and points >= _SKETCH_MIN_POINTS


def _lower_bound_features(x: torch.Tensor, sketch_dims: int, seed: int) -> torch.Tensor:
    """Float32 features whose pairwise distances bound the true ones from below (up to float32
    rounding): the centred points themselves, or for wide points their coordinates in a
    ``sketch_dims``-dimensional randomized principal subspace (Halko et al. 2011: a Gaussian
    sketch and one power iteration, in float32, since the subspace only affects speed) and the
    norm of their residual, both in float64."""
    n, width = x.shape
    # Any centre gives the same distances; the mean keeps the float32 bounds small.
    centre = x.mean(dim=0)
    if not _sketched(n, width, sketch_dims):
        return x - centre
    rows_per_block = max(1, _CACHE_BYTES // (8 * width))
    blocks = [slice(start, start + rows_per_block) for start in range(0, n, rows_per_block)]
    generator = torch.Generator().manual_seed(seed)
    basis = torch.randn(width, sketch_dims + 8, generator=generator).to(x.device)
    for _ in range(2):  # the sketch X^T X G, then one power iteration
        product = torch.zeros_like(basis)
        for block in blocks:
            rows = x[block] - centre
            product += rows.T @ (rows @ basis)
        basis = torch.linalg.qr(product).Q
    basis = basis[:, :sketch_dims].double()
    features = torch.empty(n, sketch_dims + 1, dtype=torch.float32, device=x.device)
    for block in blocks:
        rows = x[block].double() - centre.double()
        coordinates = rows @ basis
        # The basis is orthonormal, so |residual|^2 = |x|^2 - |coordinates|^2 (float64 keeps the
        # cancellation far below the rounding margin).
        residual = (rows.pow(2).sum(dim=1) - coordinates.pow(2).sum(dim=1)).clamp_min(0).sqrt()
        features[block] = torch.cat([coordinates, residual[:, None]], dim=1).float()
    return features


def _exact_distances(x: torch.Tensor, rows: torch.Tensor, columns: torch.Tensor, memory_bytes: int) -> torch.Tensor:
    """``|x[rows] - x[columns]|`` pair by pair, from differences (so zero exactly for equal
    points), in blocks small enough to stay in cache."""
    pairs_per_block = max(1, min(memory_bytes, _CACHE_BYTES) // (4 * x.shape[1]))
    parts = [torch.linalg.vector_norm(x[rows[s:s + pairs_per_block]] - x[columns[s:s + pairs_per_block]], dim=1)
             for s in range(0, len(rows), pairs_per_block)]
    return torch.cat(parts).double() if parts else torch.zeros(0, dtype=torch.float64, device=x.device)
