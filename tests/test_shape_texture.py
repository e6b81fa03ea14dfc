"""The embedded shape-texture world: deterministic, balanced, ground truth that agrees with the
pixels, and cue-conflict labels right by construction."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from selrob.data.shape_texture import (
    CLASS_TEXTURES,
    HELD_OUT_TEXTURES,
    SHAPES,
    TEXTURES,
    build,
    control_specs,
    cue_conflict_specs,
    render,
    split_specs,
)
from selrob.errors import SelrobError


def test_same_seed_same_images_and_other_seeds_or_splits_differ() -> None:
    first, again = build(split_specs("train", 3, seed=0)), build(split_specs("train", 3, seed=0))
    assert np.array_equal(first.images, again.images) and first.specs == again.specs
    assert not np.array_equal(first.images, build(split_specs("train", 3, seed=1)).images)
    assert not np.array_equal(first.images, build(split_specs("test", 3, seed=0)).images)
    # An image does not depend on how many others are generated with it.
    assert np.array_equal(build(split_specs("train", 1, seed=0)).images, first.images[:len(SHAPES)])


def test_classes_are_balanced_and_each_wears_its_own_texture() -> None:
    data = build(split_specs("val", 4))
    assert np.bincount(data.labels).tolist() == [4] * len(SHAPES)
    assert (data.textures == data.labels).all() and len(CLASS_TEXTURES) == len(SHAPES)
    assert set(HELD_OUT_TEXTURES).isdisjoint(CLASS_TEXTURES) and len(HELD_OUT_TEXTURES) >= 2
    # Colours are not a cue: the shape's colour is never the background's, and both vary within a class.
    assert (data.shape_colours != data.background_colours).all()
    assert all(len(set(data.shape_colours[data.labels == c])) > 1 for c in range(len(SHAPES)))


def test_recolouring_the_shape_changes_exactly_its_mask_pixels() -> None:
    for spec in split_specs("test", 1, seed=3):
        image, mask, pattern = render(spec)
        other = next(c for c in range(10) if c not in (spec.shape_colour, spec.background_colour))
        recoloured, same_mask, same_pattern = render(replace(spec, shape_colour=other))
        changed = (recoloured != image).any(axis=0)
        assert np.array_equal(changed, mask) and np.array_equal(same_mask, mask) and np.array_equal(same_pattern, pattern)
        assert 0.05 < mask.mean() < 0.6  # a shape, neither a speck nor the whole image
        # Another texture changes only the shape's pixels, and only where the two patterns differ.
        retextured, _, new_pattern = render(replace(spec, texture=TEXTURES.index(HELD_OUT_TEXTURES[0])))
        assert np.array_equal((retextured != image).any(axis=0), mask & (new_pattern != pattern))


def test_every_shape_is_its_own_silhouette() -> None:
    """Masks of different shapes at the same geometry differ (no two classes draw alike)."""
    spec = split_specs("test", 1)[0]
    masks = [render(replace(spec, shape=s, rotation=0.0, scale=0.8, centre=(0.5, 0.5)))[1] for s in range(len(SHAPES))]
    for i in range(len(SHAPES)):
        for j in range(i):
            assert (masks[i] != masks[j]).mean() > 0.03, (SHAPES[i], SHAPES[j])


def test_cue_conflict_pairs_every_shape_with_every_other_class_texture_equally() -> None:
    specs = cue_conflict_specs(per_pair=2)
    data = build(specs)
    pairs = [(s.shape, s.texture) for s in specs]
    assert len(pairs) == 2 * len(SHAPES) * (len(SHAPES) - 1)
    assert all(shape != texture for shape, texture in pairs)
    assert {pair: pairs.count(pair) for pair in set(pairs)} == {(i, j): 2 for i in range(10) for j in range(10) if i != j}
    assert (data.labels == [shape for shape, _ in pairs]).all()  # the label is the shape
    controls = build(control_specs(specs))
    assert (controls.textures == controls.labels).all() and np.array_equal(controls.masks, data.masks)


def test_bad_requests_are_clear_errors() -> None:
    with pytest.raises(SelrobError, match="unknown split 'holdout'"):
        split_specs("holdout", 1)
    with pytest.raises(SelrobError, match="at least 1 image per class"):
        split_specs("train", 0)
