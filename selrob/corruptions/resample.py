"""Resampling shared by the geometric corruptions: centre zoom (zoom blur, snow), bilinear sampling
with reflection (elastic transform), and ImageMagick's motion-blur line kernel (motion blur, snow).

Each works on a whole batch at once; per-image randomness (angles, displacement fields) enters as
arrays with a leading batch axis. Centre zooms of images up to :data:`DENSE_PIXELS` pixels (CIFAR,
Tiny ImageNet, digits, shapes) go through one dense (H*W, H*W) pixel operator; larger ones
(ImageNet-C's 224 pixels, whose operator would take 20 GB) zoom factor by factor, separably.
"""

from __future__ import annotations

import math

import numpy as np

#: Largest image (in pixels) zoomed through a dense pixel operator (64 x 64: 134 MB in float64).
#: Sets generated at these sizes are cached under ALGORITHM_VERSION, so their path stays the dense
#: one: the separable path rounds in another order, which moves about 1 in 10,000 uint8 values of a
#: zoom blur by one level.
DENSE_PIXELS = 64 * 64


def zoom_matrix(size: int, factor: float) -> np.ndarray:
    """The reference's ``clipped_zoom`` along one axis as a (size, size) linear map.

    The reference crops the central ``ceil(size / factor)`` pixels, zooms them with
    ``scipy.ndimage.zoom(order=1)`` (output length ``round(crop * factor)``, output pixel j read at
    input coordinate ``j * (crop - 1) / (out - 1)``) and trims the result back to ``size`` centred.
    Linear interpolation along rows and columns is separable, so the whole operation is
    ``A @ image @ A.T``.
    """
    crop = int(math.ceil(size / factor))
    top = (size - crop) // 2
    out = int(round(crop * factor))
    trim = (out - size) // 2
    coords = np.arange(trim, trim + size) * ((crop - 1) / (out - 1) if out > 1 else 0.0)
    coords = np.clip(coords, 0, crop - 1)
    low = np.minimum(np.floor(coords).astype(int), crop - 1)
    frac = coords - low
    matrix = np.zeros((size, size))
    rows = np.arange(size)
    matrix[rows, top + low] += 1 - frac
    high = np.minimum(low + 1, crop - 1)
    matrix[rows, top + high] += frac
    return matrix


def zoom_operator(height: int, width: int, factors: np.ndarray) -> np.ndarray:
    """Sum over ``factors`` of the centre zooms as one (H*W, H*W) matrix on row-major pixels.

    Each zoom is ``kron(rows, cols)``; summing first makes any number of zooms one matrix product.
    """
    return sum(np.kron(zoom_matrix(height, float(f)), zoom_matrix(width, float(f))) for f in factors)


def apply_pixel_operator(images: np.ndarray, operator: np.ndarray) -> np.ndarray:
    """Apply an (H*W, H*W) linear map to every image and channel of a float (N, H, W, C) batch."""
    n, height, width, channels = images.shape
    flat = images.transpose(0, 3, 1, 2).reshape(n * channels, height * width)
    out = flat @ operator.T.astype(images.dtype)
    return out.reshape(n, channels, height, width).transpose(0, 2, 3, 1)


def separable_zoom(images: np.ndarray, factor: float) -> np.ndarray:
    """Centre zoom of float (N, H, W, C) images by ``factor`` as ``A @ image @ A.T`` per image and
    channel, in the images' dtype (see :func:`zoom_matrix`)."""
    rows = zoom_matrix(images.shape[1], factor).astype(images.dtype)
    cols = zoom_matrix(images.shape[2], factor).astype(images.dtype)
    planes = images.transpose(0, 3, 1, 2)  # (N, C, H, W): matmul broadcasts over the leading axes
    return (rows @ planes @ cols.T).transpose(0, 2, 3, 1)


def clipped_zoom(images: np.ndarray, factor: float) -> np.ndarray:
    """Centre zoom of float (N, H, W, C) images by ``factor`` >= 1 (see :func:`zoom_matrix`)."""
    height, width = images.shape[1:3]
    if height * width > DENSE_PIXELS:
        return separable_zoom(images, factor)
    return apply_pixel_operator(images, zoom_operator(height, width, np.array([factor])))


def reflect_index(index: np.ndarray, size: int) -> np.ndarray:
    """Half-sample symmetric reflection (``d c b a | a b c d | d c b a``), SciPy's ``reflect``."""
    period = 2 * size
    index = np.mod(index, period)
    return np.where(index >= size, period - 1 - index, index)


def bilinear_sample(images: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Sample (N, H, W, C) images at per-image coordinates (N, H, W), bilinearly, with SciPy
    ``map_coordinates(order=1, mode="reflect")`` semantics at the borders."""
    n, height, width, channels = images.shape
    r0, c0 = np.floor(rows), np.floor(cols)
    fr, fc = (rows - r0)[..., None], (cols - c0)[..., None]
    r0, c0 = r0.astype(np.int64), c0.astype(np.int64)
    # One flat gather per corner: row-major pixel index plus each image's offset in the batch.
    base = (np.arange(n) * height * width)[:, None, None]
    row_index = [reflect_index(r0 + d, height) * width + base for d in (0, 1)]
    col_index = [reflect_index(c0 + d, width) for d in (0, 1)]
    pixels = images.reshape(-1, channels)

    def tap(dr: int, dc: int) -> np.ndarray:
        return np.take(pixels, row_index[dr] + col_index[dc], axis=0)

    top = tap(0, 0) * (1 - fc) + tap(0, 1) * fc
    bottom = tap(1, 0) * (1 - fc) + tap(1, 1) * fc
    return top * (1 - fr) + bottom * fr


def motion_blur_kernel(radius: float, sigma: float) -> np.ndarray:
    """ImageMagick's one-sided motion-blur weights: width ``2 ceil(radius) + 1``, weight i
    proportional to exp(-i^2 / (2 sigma^2)), normalised to sum 1."""
    width = 2 * int(math.ceil(radius)) + 1
    taps = np.arange(width)
    weights = np.exp(-(taps**2) / (2.0 * sigma**2))
    return weights / weights.sum()


def motion_blur_offsets(width: int, angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer (column, row) offsets of each tap for each angle in degrees, shape (N, width):
    ``ceil(i cos(angle) - 0.5)`` and ``ceil(i sin(angle) - 0.5)``, as ``MotionBlurImage``."""
    taps = np.arange(width)[None, :]
    radians = np.deg2rad(angles)[:, None]
    dx = np.ceil(taps * np.cos(radians) - 0.5).astype(np.int64)
    dy = np.ceil(taps * np.sin(radians) - 0.5).astype(np.int64)
    return dx, dy


def motion_blur_batch(images: np.ndarray, radius: float, sigma: float, angles: np.ndarray) -> np.ndarray:
    """ImageMagick ``MotionBlurImage`` on a uint8 (N, H, W, C) batch, one angle per image.

    Output pixel (y, x) is the kernel-weighted sum of input pixels (y + dy_i, x + dx_i), with
    out-of-image reads taking the nearest edge pixel (ImageMagick's default virtual pixels), and is
    rounded to uint8 as the reference's PNG round trip does. Images sharing a tap's offset are
    shifted together, so the cost is a few slices per distinct offset, not a gather per pixel.
    """
    weights = motion_blur_kernel(radius, sigma)
    width = len(weights)
    dx, dy = motion_blur_offsets(width, angles)
    height, cols = images.shape[1:3]
    pad = width
    padded = np.pad(images.astype(np.float32), ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    out = np.zeros(images.shape, dtype=np.float32)
    for tap, weight in enumerate(weights.astype(np.float32)):
        pairs, group = np.unique(np.stack([dx[:, tap], dy[:, tap]], axis=1), axis=0, return_inverse=True)
        for k, (ox, oy) in enumerate(pairs):
            members = np.flatnonzero(group.ravel() == k)
            window = padded[members, pad + oy : pad + oy + height, pad + ox : pad + ox + cols]
            out[members] += weight * window
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
