"""Patch scrambling (the second paper's Table 3d, Fig A1): a seeded permutation of equal patches."""

from __future__ import annotations

import numpy as np
import pytest

from selrob.distortions.scramble import patch_permutations, scramble_patches
from selrob.errors import SelrobError


def _labelled(grid: int, patch: int, images: int = 3) -> np.ndarray:
    """Images whose patch k (row-major) is filled with the value k."""
    side = grid * patch
    labels = np.arange(grid * grid).reshape(grid, grid).repeat(patch, axis=0).repeat(patch, axis=1)
    return np.stack([labels] * images).astype(np.uint8)[..., None].repeat(3, axis=-1)[:, :side, :side]


@pytest.mark.parametrize("grid", [2, 4, 8])
def test_every_patch_appears_once_where_the_permutation_puts_it(grid: int) -> None:
    images = _labelled(grid, 3)
    out = scramble_patches(images, grid, seed=5)
    order = patch_permutations(range(len(images)), grid, seed=5)
    for i in range(len(images)):
        placed = out[i, ::3, ::3, 0].astype(int)  # one value per patch
        assert sorted(placed.ravel().tolist()) == list(range(grid * grid))
        assert placed.ravel().tolist() == order[i].tolist()
        assert (out[i] == out[i, ::3, ::3].repeat(3, axis=0).repeat(3, axis=1)).all()  # patches moved whole
    assert not all((order[i] == np.arange(grid * grid)).all() for i in range(len(images)))


def test_same_seed_same_permutation_and_seeding_by_index() -> None:
    images = _labelled(4, 2, images=4)
    first = scramble_patches(images, 4, seed=1)
    assert (scramble_patches(images, 4, seed=1) == first).all()
    assert not (scramble_patches(images, 4, seed=2) == first).all()
    # An image is scrambled the same way alone as in its batch (seeded by its index).
    assert (scramble_patches(images[2:3], 4, seed=1, indices=[2]) == first[2:3]).all()


def test_grid_one_is_the_original_and_leftovers_stay() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, 10, 11, 3), dtype=np.uint8)
    assert (scramble_patches(images, 1) == images).all()
    out = scramble_patches(images, 3)  # 3 x 3 patches of 3 x 3 pixels; row 9 and column 9-10 stay
    assert (out[:, 9:] == images[:, 9:]).all() and (out[:, :, 9:] == images[:, :, 9:]).all()
    assert sorted(map(bytes, out[0, :9, :9].reshape(3, 3, 3, 3, 3).transpose(0, 2, 1, 3, 4).reshape(9, -1))) == \
        sorted(map(bytes, images[0, :9, :9].reshape(3, 3, 3, 3, 3).transpose(0, 2, 1, 3, 4).reshape(9, -1)))


def test_bad_grids_are_refused() -> None:
    images = np.zeros((1, 8, 8, 3), dtype=np.uint8)
    for grid in (0, 9):
        with pytest.raises(SelrobError, match=f"got {grid}"):
            scramble_patches(images, grid)
    with pytest.raises(SelrobError, match="indices"):
        scramble_patches(images, 2, indices=[0, 1])
