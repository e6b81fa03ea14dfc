"""Total variation and filter matching (the second paper's section 3.3.1): known answers and peers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

from selrob.errors import SelrobError
from selrob.measures.filter_matching import match_filters, spearman_matrix
from selrob.measures.total_variation import channel_total_variation, kernel_total_variation, total_variation


def test_total_variation_known_answers() -> None:
    assert total_variation(torch.full((5, 7), 3.0)).item() == 0
    for n in (2, 3, 6):
        checker = torch.tensor([[(-1.0) ** (i + j) for j in range(n)] for i in range(n)])
        assert total_variation(checker).item() == pytest.approx(4 * n * (n - 1))
    ramp = torch.arange(4.0).repeat(3, 1)  # each row 0, 1, 2, 3: 3 per row, none down the columns
    assert total_variation(ramp).item() == pytest.approx(9)
    batch = torch.stack([torch.zeros(4, 4), torch.eye(4)])  # eye: 2 per interior diagonal step
    assert total_variation(batch).tolist() == pytest.approx([0, 12])


def test_total_variation_needs_two_dimensions() -> None:
    with pytest.raises(SelrobError, match="shape"):
        total_variation(torch.zeros(5))


def test_kernel_total_variation_of_a_hand_built_layer() -> None:
    conv = nn.Conv2d(2, 2, 3, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0] = torch.tensor([[1.0, -1, 1], [-1, 1, -1], [1, -1, 1]])  # checkerboard: 4 * 3 * 2 = 24
        conv.weight[1, 1, 0, 0] = 2.0  # one corner: |2| to the right and down = 4
    model = nn.Sequential(conv, nn.ReLU(), nn.Conv2d(2, 4, 1))  # the 1 x 1 layer has no variation to measure
    table = kernel_total_variation(model)
    assert table["layer"].tolist() == ["0"] and table["kernels"].tolist() == [4]
    assert table["mean_tv"].iloc[0] == pytest.approx((24 + 0 + 0 + 4) / 4)


def test_channel_total_variation_averages_each_channel_over_images() -> None:
    model = nn.Sequential(nn.Identity(), nn.ReLU())
    images = torch.zeros(3, 2, 4, 4)
    images[0, 1] = torch.eye(4)  # 12 on image 0 only: mean 4 over 3 images
    images[:, 0, 0, 0] = 1.0  # one corner: 2 on every image
    batches = [images[:2], images[2:]]
    tv = channel_total_variation(model, ["1"], batches)["1"]
    assert tv.tolist() == pytest.approx([2.0, 4.0])
    with pytest.raises(SelrobError, match="no module 'nope'"):
        channel_total_variation(model, ["nope"], batches)


def test_spearman_matrix_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 27)), rng.normal(size=(4, 27))
    b[0, :5] = b[0, 5]  # ties, ranked by their average as SciPy does
    expected = np.array([[spearmanr(x, y).statistic for y in b] for x in a])
    np.testing.assert_allclose(spearman_matrix(a, b), expected, atol=1e-12)


def test_matching_a_filter_to_a_copy_of_itself_gives_r_one() -> None:
    rng = np.random.default_rng(1)
    standard = rng.normal(size=(6, 3, 5, 5))
    robust = np.concatenate([rng.normal(size=(4, 3, 5, 5)), standard[[2]] * 3.0 + 1.0])  # a monotone copy
    matches = match_filters(standard, robust)
    assert matches.match[2] == 4 and matches.r[2] == pytest.approx(1.0)
    np.testing.assert_array_less(matches.r[[0, 1, 3, 4, 5]], 1.0)
    with pytest.raises(SelrobError, match="cannot be matched"):
        match_filters(standard, robust[:, :2])
