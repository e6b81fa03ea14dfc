"""Blur and resampling corruptions: Gaussian blur, defocus blur, pixelate.

Gaussian and defocus blur filter the whole batch at once with SciPy (the kernels act on the two
spatial axes only).
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from selrob.corruptions.common import from_unit, to_unit


def gaussian_blur(images: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian filter of each channel (scikit-image ``gaussian`` semantics: nearest-edge padding,
    kernel truncated at 4 sigma). Deterministic."""
    x = to_unit(images)
    return from_unit(ndimage.gaussian_filter(x, sigma=(0, sigma, sigma, 0), mode="nearest", truncate=4.0))


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


def pixelate(images: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """PIL BOX downsampling to ``int(size * factor)`` pixels, then BOX upsampling back. Deterministic.

    PIL resamples uint8 images in fixed-point arithmetic, so this goes image by image through PIL
    to match the reference exactly.
    """
    out = np.empty_like(images)
    height, width = images.shape[1:3]
    small = (int(width * factor), int(height * factor))
    for i, image in enumerate(images):
        pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        resized = np.asarray(pil.resize(small, Image.BOX).resize((width, height), Image.BOX))
        out[i] = resized.reshape(height, width, -1)
    return out
