"""Patch-scrambled images (the second paper's Table 3d, Figs A1 and A6): an image cut into a
p x p grid of equal patches, the patches put back in a random order. Shape is destroyed, local
texture kept; p = 1 is the original image.

When the side is not divisible by p, the patches are ``floor(H / p) x floor(W / p)`` pixels and
tile the top-left corner; the leftover bottom rows and right columns (fewer than p pixels each)
stay where they are. The permutation of image ``i`` is drawn from ``default_rng((seed, p, i))``,
so an image is scrambled the same way whatever batch it comes in.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from selrob.errors import SelrobError

#: The paper's grids (Fig A1 adds 1 x 1, the original).
GRIDS = (2, 4, 8)


def patch_permutations(indices: Sequence[int], grid: int, seed: int = 0) -> np.ndarray:
    """(N, grid * grid) permutations: row i says which source patch (row-major) lands at each
    position of image ``indices[i]``."""
    return np.stack([np.random.default_rng((seed, grid, int(i))).permutation(grid * grid) for i in indices]) \
        if len(indices) else np.zeros((0, grid * grid), dtype=np.int64)


def scramble_patches(images: np.ndarray, grid: int, seed: int = 0, indices: Sequence[int] | None = None) -> np.ndarray:
    """Scramble each image of ``images`` (N, H, W, C) on a ``grid`` x ``grid`` grid of patches.

    ``indices`` name the images for seeding (default 0..N-1: their positions in the test set).
    """
    if images.ndim != 4:
        raise SelrobError(f"expected an (N, H, W, C) batch, got shape {images.shape}")
    height, width = images.shape[1:3]
    if grid < 1 or grid > min(height, width):
        raise SelrobError(f"grid must be between 1 and the image side ({min(height, width)}), got {grid}")
    chosen = range(len(images)) if indices is None else indices
    if len(chosen) != len(images):
        raise SelrobError(f"{len(images)} images but {len(chosen)} indices")
    ph, pw = height // grid, width // grid
    out = images.copy()
    # (N, grid, ph, grid, pw, C) -> patches in row-major order: (N, grid * grid, ph, pw, C)
    tiled = images[:, : ph * grid, : pw * grid].reshape(len(images), grid, ph, grid, pw, -1)
    patches = tiled.transpose(0, 1, 3, 2, 4, 5).reshape(len(images), grid * grid, ph, pw, -1)
    order = patch_permutations(chosen, grid, seed)
    shuffled = np.take_along_axis(patches, order[:, :, None, None, None], axis=1)
    out[:, : ph * grid, : pw * grid] = (shuffled.reshape(len(images), grid, grid, ph, pw, -1)
                                        .transpose(0, 1, 3, 2, 4, 5).reshape(len(images), ph * grid, pw * grid, -1))
    return out
