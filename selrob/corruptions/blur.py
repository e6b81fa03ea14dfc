"""Blur corruptions: Gaussian, glass, defocus, motion and zoom blur.

The filters act on the two spatial axes of the whole batch at once; per-image randomness (glass
blur's shuffle, motion blur's angle) is drawn per image from the one generator.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from selrob.corruptions.common import from_unit, to_unit
from selrob.corruptions.resample import (
    DENSE_PIXELS,
    apply_pixel_operator,
    motion_blur_batch,
    separable_zoom,
    zoom_operator,
)


def _gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    """scikit-image ``gaussian`` on each image and channel: nearest-edge padding, 4-sigma kernel."""
    return ndimage.gaussian_filter(x, sigma=(0, sigma, sigma, 0), mode="nearest", truncate=4.0)


def gaussian_blur(images: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian filter of each channel. Deterministic."""
    return from_unit(_gaussian(to_unit(images), sigma))


def glass_blur(images: np.ndarray, params: tuple[float, int, int], rng: np.random.Generator) -> np.ndarray:
    """Blur, locally shuffle pixels, blur again (``params`` = sigma, max_delta, iterations).

    As in the reference, the first blur is truncated to uint8, and each iteration visits rows and
    columns from ``size - max_delta`` down to ``max_delta + 1`` and draws an offset in
    ``[-max_delta, max_delta)`` per axis. The reference's "swap" assigns NumPy views, which copies
    the neighbour into the pixel and leaves the neighbour unchanged; the released CIFAR-10-C was made
    that way, so this copies too. Visits are sequential within an image but vectorised across the
    batch.
    """
    sigma, max_delta, iterations = params
    max_delta, iterations = int(max_delta), int(iterations)
    x = (_gaussian(to_unit(images), sigma) * 255).astype(np.uint8)
    n, height, width = x.shape[:3]
    rows = range(height - max_delta, max_delta, -1)
    cols = range(width - max_delta, max_delta, -1)
    batch = np.arange(n)
    for _ in range(iterations):
        offsets = rng.integers(-max_delta, max_delta, size=(len(rows), len(cols), 2, n))
        for i, h in enumerate(rows):
            for j, w in enumerate(cols):
                dx, dy = offsets[i, j]
                x[:, h, w] = x[batch, h + dy, w + dx]
    return from_unit(_gaussian(to_unit(x), sigma))


def gaussian_kernel_1d(size: int, sigma: float) -> np.ndarray:
    """OpenCV's ``getGaussianKernel``: exp(-(i - (size-1)/2)^2 / (2 sigma^2)), normalised."""
    offsets = np.arange(size) - (size - 1) / 2
    weights = np.exp(-(offsets**2) / (2 * sigma**2))
    return weights / weights.sum()


def defocus_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """The reference's defocus kernel: a normalised disk on the grid -8..8 (or -r..r beyond 8),
    blurred by a 3x3 (5x5 beyond 8) Gaussian with sigma ``alias_blur`` and reflect-101 edges.

    Rows and columns that are zero everywhere are cropped: they add nothing to the filter.
    """
    half, blur_size = (8, 3) if radius <= 8 else (int(np.ceil(radius)), 5)
    grid = np.arange(-half, half + 1)
    xx, yy = np.meshgrid(grid, grid)
    disk = (xx**2 + yy**2 <= radius**2).astype(np.float64)
    disk /= disk.sum()
    g = gaussian_kernel_1d(blur_size, alias_blur)
    kernel = ndimage.correlate1d(ndimage.correlate1d(disk, g, axis=0, mode="mirror"), g, axis=1, mode="mirror")
    keep = np.flatnonzero(kernel.any(axis=0))  # symmetric about the centre by construction
    return kernel[np.ix_(keep, keep)]


def defocus_blur(images: np.ndarray, params: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """Correlate each channel with :func:`defocus_kernel` (OpenCV ``filter2D`` semantics:
    reflect-101 edges). Deterministic."""
    kernel = defocus_kernel(*params)
    x = to_unit(images)
    return from_unit(ndimage.correlate(x, kernel[None, :, :, None], mode="mirror"))


def motion_blur(images: np.ndarray, params: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """ImageMagick motion blur (``params`` = radius, sigma) at an angle drawn per image from
    U(-45, 45) degrees; see :func:`selrob.corruptions.resample.motion_blur_batch`."""
    radius, sigma = params
    return motion_blur_batch(images, radius, sigma, rng.uniform(-45, 45, size=len(images)))


def zoom_factors(params: tuple[float, float]) -> np.ndarray:
    """The zoom factors of ``params`` = (top, step): ``np.arange(1, top, step)``, the reference's own
    call, so that floating-point edge cases give the same count (``arange(1, 1.11, 0.01)`` has 12
    factors, 1.11 included)."""
    top, step = params
    return np.arange(1, top, step)


def zoom_blur(images: np.ndarray, params: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """Mean of the image and its centre zooms by :func:`zoom_factors` (``params`` = top and step of
    the factors' ``arange``: step 0.01 for CIFAR and Tiny ImageNet, 0.01 to 0.03 for ImageNet).

    Computed in float32 as the reference. Every zoom is linear, so for small images the mean of all
    of them and the identity is one pixel operator; larger ones sum the zooms one by one (see
    :mod:`selrob.corruptions.resample`). Deterministic.
    """
    factors = zoom_factors(params)
    x = to_unit(images).astype(np.float32)
    height, width = images.shape[1:3]
    if height * width > DENSE_PIXELS:
        zooms = np.zeros_like(x)  # summed apart from x, in the reference's order
        for factor in factors:
            zooms += separable_zoom(x, float(factor))
        return from_unit((x + zooms) / np.float32(len(factors) + 1))
    operator = (np.eye(height * width) + zoom_operator(height, width, factors)) / (len(factors) + 1)
    return from_unit(apply_pixel_operator(x, operator))
