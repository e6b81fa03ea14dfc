"""Confidence intervals: bootstrapped 95% intervals of the mean across replicates (the paper's
error bars), and the t intervals of a trend's slope and of a mean paired difference that the
claims report tests with."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``(mean, low, high)``: percentile bootstrap interval of the mean.

    Resamples the values with replacement ``n_resamples`` times and takes the
    ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of the resampled means (the
    same interval as ``scipy.stats.bootstrap(method="percentile")`` and seaborn's
    ``errorbar=("ci", 95)``). A single value has a zero-width interval.
    """
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    mean = float(data.mean())
    if data.size == 1:
        return mean, mean, mean
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(n_resamples, data.size))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return mean, float(low), float(high)


def mean_ci(values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """``(low, high)`` of :func:`bootstrap_ci`: seaborn's ``errorbar`` for the paper's error bars.

    Seaborn's own ``errorbar=("ci", 95)`` computes the same interval with a Python loop over
    resamples, which takes minutes for the per-layer figures; this one is vectorised.
    """
    _, low, high = bootstrap_ci(values)
    return low, high


def summarize(
    frame: pd.DataFrame,
    by: str | list[str],
    values: str | list[str],
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Per group: ``n`` and, for each column in ``values``, its mean (column ``<value>``) and
    bootstrapped CI (``<value>_ci_low``, ``<value>_ci_high``)."""
    keys = [by] if isinstance(by, str) else list(by)
    names = [values] if isinstance(values, str) else list(values)
    rows = []
    for group, part in frame.groupby(keys, sort=True):
        row = dict(zip(keys, group if isinstance(group, tuple) else (group,)))
        row["n"] = len(part)
        for name in names:
            row[name], row[f"{name}_ci_low"], row[f"{name}_ci_high"] = bootstrap_ci(
                part[name].to_numpy(), confidence, seed=seed
            )
        rows.append(row)
    columns = [*keys, "n", *(c for name in names for c in (name, f"{name}_ci_low", f"{name}_ci_high"))]
    return pd.DataFrame(rows, columns=columns)


def slope_ci(
    x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, confidence: float = 0.95
) -> tuple[float, float, float]:
    """``(slope, low, high)``: the least-squares slope of ``y`` on ``x`` (one point per replicate,
    e.g. per seed) and its t interval with ``n - 2`` degrees of freedom, as
    ``scipy.stats.linregress``'s standard error gives it. With 2-3 seeds per level a bootstrap
    over seeds covers far less than it says (it sees only (r - 1) / r of the spread); the t
    interval is exact for normal noise."""
    from scipy import stats

    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if xs.shape != ys.shape or len(np.unique(xs)) < 2 or xs.size < 3:
        raise ValueError("a slope needs at least 3 paired values at two or more levels of x")
    fit = stats.linregress(xs, ys)
    half = stats.t.ppf((1 + confidence) / 2, xs.size - 2) * fit.stderr
    return float(fit.slope), float(fit.slope - half), float(fit.slope + half)


def mean_difference_ci(differences: Sequence[float] | np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)`` of paired differences: the t interval with ``n - 1`` degrees of freedom."""
    from scipy import stats

    data = np.asarray(differences, dtype=np.float64)
    if data.size < 2:
        raise ValueError("a paired difference needs at least 2 pairs")
    mean = float(data.mean())
    half = stats.t.ppf((1 + confidence) / 2, data.size - 1) * data.std(ddof=1) / np.sqrt(data.size)
    return mean, float(mean - half), float(mean + half)


def proportion_ci_across_seeds(
    per_seed: Sequence[np.ndarray], confidence: float = 0.95, n_resamples: int = 10_000, seed: int = 0,
) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean over training seeds of each seed's share of True among its
    images (e.g. images classified right), with a hierarchical percentile bootstrap: resample the
    seeds with replacement, then each drawn seed's images with replacement, and average the
    resampled seeds' shares. A resampled share of ``n`` binary values with share ``p`` is drawn as
    Binomial(n, p) / n, its exact distribution, instead of drawing ``n`` indices. One seed gives
    the bootstrap over its images. Seeds without images are an error."""
    values = [np.asarray(v, dtype=bool) for v in per_seed]
    if not values or any(v.size == 0 for v in values):
        raise ValueError("every seed needs at least one image")
    counts = np.array([v.size for v in values])
    shares = np.array([v.mean() for v in values])
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, len(values), size=(n_resamples, len(values)))
    means = (rng.binomial(counts[drawn], shares[drawn]) / counts[drawn]).mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(shares.mean()), float(low), float(high)


def mean_ci_across_seeds(
    per_seed: Sequence[np.ndarray], confidence: float = 0.95, n_resamples: int = 10_000, seed: int = 0,
) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean over training seeds of each seed's mean value (e.g. each
    image's share of corrupted versions classified right), with the hierarchical percentile
    bootstrap of :func:`proportion_ci_across_seeds` for values that are not binary: resample the
    seeds, then each drawn seed's values with replacement (drawn as indices)."""
    values = [np.asarray(v, dtype=float) for v in per_seed]
    if not values or any(v.size == 0 for v in values):
        raise ValueError("every seed needs at least one value")
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, len(values), size=(n_resamples, len(values)))
    means = np.zeros(n_resamples)
    for k, v in enumerate(values):
        uses = (drawn == k).sum(axis=1)  # how often each resample drew seed k
        for count in np.unique(uses[uses > 0]):
            rows = np.flatnonzero(uses == count)
            block = max(1, 2_000_000 // (count * v.size))  # bounds the indices drawn at once
            for start in range(0, len(rows), block):
                part = rows[start : start + block]
                # ``count`` independent resamples of seed k's values for each of these resamples
                drawn_values = v[rng.integers(0, v.size, size=(len(part), count, v.size))]
                means[part] += drawn_values.mean(axis=2).sum(axis=1)
    means /= len(values)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(np.mean([v.mean() for v in values])), float(low), float(high)
