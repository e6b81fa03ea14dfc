"""PCA and TwoNN dimensionality: known answers, peers (scikit-learn, scikit-dimension), and the
cached per-run evaluation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from selrob.measures.intrinsic_dimension import _smallest, two_nearest_neighbour_distances, two_nn_dimension, two_nn_fit
from selrob.measures.pca_dimensionality import components_for_variance, explained_variance_ratio, pca_dimensionality


def known_spectrum(variances: list[float], samples: int = 4000, seed: int = 0) -> np.ndarray:
    """Samples whose principal variances are exactly ``variances`` (whitened Gaussian scores on
    a random orthonormal basis)."""
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((samples, len(variances)))
    scores -= scores.mean(axis=0)
    # Whiten exactly, so the sample covariance is the identity before scaling.
    scores = scores @ np.linalg.inv(np.linalg.cholesky(np.cov(scores.T, bias=True))).T
    basis, _ = np.linalg.qr(rng.standard_normal((len(variances), len(variances))))
    return (scores * np.sqrt(variances)) @ basis.T


def test_explained_variance_ratio_recovers_a_known_spectrum() -> None:
    variances = [8.0, 4.0, 2.0, 1.0, 0.5, 0.25, 0.25, 0.0]
    ratios = explained_variance_ratio(known_spectrum(variances))
    np.testing.assert_allclose(ratios, np.array(variances) / sum(variances), atol=1e-10)


def test_components_for_variance_by_hand() -> None:
    # Cumulative ratios 0.5, 0.75, 0.875, 0.9375, 1: 90% needs 4, 80% needs 3, 50% exactly needs 2
    # (scikit-learn's rule: the cumulative ratio must exceed the threshold).
    ratios = np.array([0.5, 0.25, 0.125, 0.0625, 0.0625])
    assert components_for_variance(ratios, [0.9, 0.8, 0.5, 0.99]) == [4, 3, 2, 5]
    assert components_for_variance(np.zeros(0), [0.9]) == [0]
    with pytest.raises(ValueError, match="strictly between"):
        components_for_variance(ratios, [1.0])


def test_pca_dimensionality_of_a_known_rank() -> None:
    # Rank 3 in 10 units with variances 6, 3, 1 (cumulative 0.6, 0.9, 1): each threshold sits at
    # least 0.05 from a cumulative ratio, since eigenvalues differ across BLAS builds in the last
    # bits (the rule at an exact boundary is tested on exact binary fractions above).
    data = known_spectrum([6.0, 3.0, 1.0] + [0.0] * 7)
    assert pca_dimensionality(data, [0.5, 0.8, 0.95]) == [0.1, 0.2, 0.3]
    assert pca_dimensionality(np.ones((20, 4)), [0.95]) == [0.0]  # no variance: no components


@pytest.mark.parametrize("shape", [(500, 16), (30, 64)])
def test_pca_dimensionality_matches_scikit_learn(shape: tuple[int, int]) -> None:
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(1)
    data = rng.standard_normal(shape) @ np.diag(np.geomspace(10, 0.1, shape[1])) @ rng.standard_normal((shape[1],) * 2)
    thresholds = [0.9, 0.95, 0.99]
    ours = pca_dimensionality(data, thresholds)
    theirs = [PCA(n_components=t, svd_solver="full").fit(data).n_components_ / shape[1] for t in thresholds]
    assert ours == theirs


def curved_surface(points: int, width: int, seed: int = 0) -> np.ndarray:
    """A 2-D curved manifold (a swiss-roll-like sheet) isometrically rotated into ``width`` dims."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(1.5 * np.pi, 4.5 * np.pi, points)
    height = rng.uniform(0, 20, points)
    sheet = np.stack([t * np.cos(t), height, t * np.sin(t)], axis=1)
    basis, _ = np.linalg.qr(rng.standard_normal((width, 3)))
    return sheet @ basis.T


@pytest.mark.parametrize("d", [2, 5, 10])
def test_twonn_on_a_linear_subspace(d: int) -> None:
    rng = np.random.default_rng(d)
    basis, _ = np.linalg.qr(rng.standard_normal((50, d)))
    # Gaussian: no boundary, where TwoNN's local uniformity assumption fails on a cube.
    points = rng.standard_normal((4000, d)) @ basis.T + 3.0
    assert two_nn_dimension(points) == pytest.approx(d, rel=0.1)


def test_twonn_on_a_curved_two_dimensional_manifold() -> None:
    assert two_nn_dimension(curved_surface(4000, 100)) == pytest.approx(2, rel=0.1)


@pytest.mark.parametrize("width", [24, 300])
def test_neighbour_distances_are_exact(width: int) -> None:
    """Against brute force in float64, on narrow points and on wide ones (2,500 points: the
    sketched bounds), in many small blocks."""
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(width)
    points = np.tanh(rng.standard_normal((2500, 6)) @ rng.standard_normal((6, width))).astype(np.float32)
    r1, r2 = two_nearest_neighbour_distances(points, memory_bytes=2**20)
    exact = cdist(points.astype(np.float64), points.astype(np.float64))
    np.fill_diagonal(exact, np.inf)
    expected = np.sort(exact, axis=1)[:, :2]
    # float32 sums differ with the CPU's vector width (up to ~2e-7 relative); a wrong neighbour is off by far more.
    np.testing.assert_allclose(r1, expected[:, 0], rtol=4e-6)
    np.testing.assert_allclose(r2, expected[:, 1], rtol=4e-6)


@pytest.mark.parametrize("columns", [2000, 2017])
def test_grouped_selection_is_topk(columns: int) -> None:
    """The k smallest values of each row by group minima: topk's values, also with many ties
    (small integers) and columns left over from the groups; the indices point at them."""
    generator = torch.Generator().manual_seed(columns)
    for values in (torch.rand(50, columns, generator=generator),
                   torch.randint(0, 40, (50, columns), generator=generator).float()):
        values[:, -1] = -1.0  # a leftover column (or the last group's) holds each row's minimum
        smallest, indices = _smallest(values, 9)
        assert torch.equal(smallest, values.topk(9, dim=1, largest=False).values)
        assert torch.equal(values.gather(1, indices), smallest)
        assert all(len(set(row.tolist())) == 9 for row in indices)


def test_duplicates_and_ties_are_handled() -> None:
    rng = np.random.default_rng(3)
    points = rng.standard_normal((300, 8))
    points[10] = points[11] = points[12]  # a triple: r1 = 0 for all three
    points[50] = points[51]  # a pair: r1 = 0 for both
    points[60] = 100.0  # far from the rest, with two neighbours at exactly distance 1: r1 = r2
    points[61] = points[60] + np.eye(8)[0]
    points[62] = points[60] - np.eye(8)[0]
    r1, r2 = two_nearest_neighbour_distances(points)
    assert (r1[[10, 11, 12, 50, 51]] == 0).all() and (r2[[10, 11, 12]] == 0).all()
    assert r2[50] > 0  # a pair's second neighbour is another point
    assert (r1 > 0).sum() == 295 and r1[60] == r2[60] == 1.0
    # Every point of a big duplicate group: one distinct value plus scattered points.
    crowd = np.concatenate([np.zeros((500, 4)), rng.standard_normal((100, 4))])
    r1, r2 = two_nearest_neighbour_distances(crowd)
    assert (r1[:500] == 0).all() and (r1[500:] > 0).all()
    assert math.isnan(two_nn_dimension(np.zeros((50, 3))))


def test_twonn_refuses_non_finite_points() -> None:
    points = np.random.default_rng(0).standard_normal((20, 3))
    points[4, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        two_nn_dimension(points)


def test_twonn_fit_by_hand() -> None:
    # mu = e^(k/10) for k = 1..10 (+ one r1 = r2 point and one duplicate, both discarded); the fit
    # uses the first 9 of the 10 kept points with F = i / 10.
    r1 = np.ones(12)
    r2 = np.r_[np.exp(np.arange(1, 11) / 10), 1.0, 5.0]
    r1[-1] = 0.0
    x = np.arange(1, 10) / 10
    y = -np.log(1 - np.arange(1, 10) / 10)
    assert two_nn_fit(r1, r2) == pytest.approx(x @ y / (x @ x))
    with pytest.raises(ValueError, match="fit_fraction"):
        two_nn_fit(r1, r2, 1.0)


@pytest.mark.parametrize("width", [10, 64, 400])
def test_twonn_matches_scikit_dimension(width: int) -> None:
    skdim = pytest.importorskip("skdim", reason="pip install scikit-dimension (a dev dependency) for the peer check")
    rng = np.random.default_rng(width)
    points = np.tanh(rng.standard_normal((2000, 5)) @ rng.standard_normal((5, width)) / np.sqrt(5))
    theirs = skdim.id.TwoNN(discard_fraction=0.1).fit(points).dimension_
    assert two_nn_dimension(points) == pytest.approx(theirs, rel=0.02)


def test_cuda_gives_the_same_answer_when_present() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    points = curved_surface(2000, 80)
    assert two_nn_dimension(points, device="cuda") == pytest.approx(two_nn_dimension(points, device="cpu"), rel=1e-6)
