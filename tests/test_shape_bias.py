"""Table 2's shape and texture shares (Geirhos et al.'s rule) with bootstrap intervals over images
and, hierarchically, over seeds. (cue_decisions and shape_bias are checked by hand in
test_robust_training.py.)"""

from __future__ import annotations

import math

import numpy as np
import pytest

from selrob.measures.shape_bias import cue_shares, cue_shares_across_seeds, shape_bias

#: A hand-built decision table: 3 shape, 1 texture, 2 other.
TABLE = np.array(["shape", "texture", "other", "shape", "other", "shape"])


def test_shares_count_only_decisions_by_a_cue_and_sum_to_one() -> None:
    shares = cue_shares(TABLE)
    assert shares.shape == pytest.approx(0.75) == shape_bias(TABLE) and shares.texture == pytest.approx(0.25)
    assert (shares.decided, shares.images, shares.seeds) == (4, 6, 1)
    assert shares.shape_low <= shares.shape <= shares.shape_high
    assert (shares.texture_low, shares.texture_high) == pytest.approx((1 - shares.shape_high, 1 - shares.shape_low))


def test_the_interval_contains_the_estimate_shrinks_with_more_images_and_repeats_by_seed() -> None:
    rng = np.random.default_rng(1)
    small, large = (rng.choice(["shape", "texture", "other"], size=n, p=[0.3, 0.5, 0.2]) for n in (100, 2000))
    few, many = cue_shares(small), cue_shares(large)
    for shares in (few, many):
        assert shares.shape_low < shares.shape < shares.shape_high
    assert many.shape_high - many.shape_low < (few.shape_high - few.shape_low) / 2
    assert cue_shares(small, seed=3) == cue_shares(small, seed=3)
    assert cue_shares(small, confidence=0.5).shape_high < few.shape_high


def test_degenerate_tables() -> None:
    all_shape = cue_shares(np.array(["shape"] * 5 + ["other"]))
    assert (all_shape.shape, all_shape.shape_low, all_shape.shape_high, all_shape.texture) == (1.0, 1.0, 1.0, 0.0)
    undecided = cue_shares(np.array(["other", "other"]))
    assert undecided.decided == 0 and undecided.images == 2  # no cue decided: the bias is undefined, not 0
    assert all(math.isnan(v) for v in (undecided.shape, undecided.shape_low, undecided.shape_high, undecided.texture))
    assert math.isnan(cue_shares(np.array([], dtype=str)).shape)


def test_across_seeds_the_estimate_is_the_mean_of_seeds_and_the_interval_sees_their_spread() -> None:
    rng = np.random.default_rng(2)
    per_seed = [rng.choice(["shape", "texture"], size=400, p=[p, 1 - p]) for p in (0.2, 0.5, 0.8)]
    shares = cue_shares_across_seeds(per_seed)
    assert shares.shape == pytest.approx(np.mean([shape_bias(d) for d in per_seed]))
    assert (shares.decided, shares.images, shares.seeds) == (1200, 1200, 3)
    assert shares.shape_low < shares.shape < shares.shape_high
    pooled = cue_shares(np.concatenate(per_seed))  # as if one model: blind to the seeds' spread
    assert shares.shape_high - shares.shape_low > 3 * (pooled.shape_high - pooled.shape_low)
    assert cue_shares_across_seeds(per_seed, seed=5) == cue_shares_across_seeds(per_seed, seed=5)
    assert cue_shares_across_seeds(per_seed[:1]) == cue_shares(per_seed[0])
    # Seeds that agree exactly leave only the images' spread: a narrower interval.
    agreeing = cue_shares_across_seeds([per_seed[1]] * 3)
    assert agreeing.shape_high - agreeing.shape_low < shares.shape_high - shares.shape_low


def test_across_seeds_a_seed_without_cue_decisions_is_left_out() -> None:
    with_empty = cue_shares_across_seeds([TABLE, np.array(["other"]), TABLE])
    assert with_empty.shape == pytest.approx(0.75) and (with_empty.decided, with_empty.images) == (8, 13)
    none = cue_shares_across_seeds([np.array(["other"]), np.array(["other"])])
    assert math.isnan(none.shape) and none.decided == 0 and none.seeds == 2
