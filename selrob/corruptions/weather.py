"""Weather corruptions: snow, frost, fog and spatter.

Random layers (snow flakes, fog fractals, liquid) are drawn for the whole batch at once, one layer
per image. Spatter's water mode needs OpenCV's Canny edges, distance transform and histogram
equalisation, which run image by image (microseconds each at these sizes).
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage

from selrob.corruptions.common import LUMA, as_rgb, from_unit, like_input, to_unit
from selrob.corruptions.frost_photos import current_folder, frost_photos
from selrob.corruptions.resample import clipped_zoom, motion_blur_batch


def snow(images: np.ndarray, params: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    """Snow (``params`` = loc, scale, zoom, threshold, blur radius, blur sigma, blend).

    A Gaussian noise layer N(loc, scale) is centre-zoomed, thresholded, quantised to uint8,
    motion-blurred at an angle drawn from U(-135, -45) degrees, and added with its 180-degree rotation
    to the image, which is first brightened towards ``max(x, 1.5 gray(x) + 0.5)``.
    """
    loc, scale, zoom, threshold, radius, sigma, blend = params
    x = to_unit(as_rgb(images)).astype(np.float32)
    n, height, width = x.shape[:3]
    layer = clipped_zoom(rng.normal(loc, scale, size=(n, height, width, 1)), zoom)
    layer[layer < threshold] = 0
    flakes = (np.clip(layer, 0, 1) * 255).astype(np.uint8)
    layer = motion_blur_batch(flakes, radius, sigma, rng.uniform(-135, -45, size=n)) / 255.0
    gray = (x @ LUMA.astype(np.float32))[..., None]
    x = blend * x + (1 - blend) * np.maximum(x, gray * 1.5 + 0.5)
    return like_input(from_unit(x + layer + np.rot90(layer, k=2, axes=(1, 2))), images)


@functools.lru_cache(maxsize=8)
def _scaled_frost(index: int, scale: float, folder: Path) -> np.ndarray:
    """A frost photograph of ``folder`` resized by ``scale`` with OpenCV's bilinear ``resize``, as
    the reference; at scale 1 (ImageNet) the reference does not resize, so neither does this."""
    photo = frost_photos(folder)[index]
    return photo if scale == 1 else cv2.resize(photo, (0, 0), fx=scale, fy=scale)


def frost(images: np.ndarray, params: tuple[float, float, float], rng: np.random.Generator) -> np.ndarray:
    """``image_weight * x + frost_weight * patch`` on 0..255 values (``params`` = image weight,
    frost weight, photograph scale: 0.2 for 32-pixel, 0.3 for 64-pixel, 1 for 224-pixel images).

    Each image gets one of the first five photographs, resized by the scale, and a random crop of
    the image's size from it.
    """
    image_weight, frost_weight, scale = params
    x = as_rgb(images)
    n, height, width = x.shape[:3]
    patches = np.empty(x.shape, dtype=np.float64)
    folder = current_folder()
    for i, choice in enumerate(rng.integers(5, size=n)):
        photo = _scaled_frost(int(choice), scale, folder)
        top = rng.integers(0, photo.shape[0] - height)
        left = rng.integers(0, photo.shape[1] - width)
        patches[i] = photo[top : top + height, left : left + width]
    mixed = np.clip(image_weight * x + frost_weight * patches, 0, 255).astype(np.uint8)
    return like_input(mixed, images)


def plasma_fractal(n: int, size: int, wibble_decay: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` diamond-square height maps of side ``size`` (a power of two), each scaled to [0, 1].

    Each level averages the four neighbours of the new points and adds uniform noise of amplitude
    ``wibble^2`` (wibble starts at 100), the amplitude falling by ``wibble_decay`` per level. The
    grid wraps around, so the map tiles.
    """
    if size & (size - 1):
        raise ValueError(f"plasma fractal size must be a power of two, got {size}")
    heights = np.zeros((n, size, size))
    step, wibble = size, 100.0

    def wibbled_mean(total: np.ndarray) -> np.ndarray:
        return total / 4 + wibble * rng.uniform(-wibble, wibble, total.shape)

    while step >= 2:
        half = step // 2
        corners = heights[:, ::step, ::step]
        squares = corners + np.roll(corners, -1, axis=1)
        squares = squares + np.roll(squares, -1, axis=2)
        heights[:, half::step, half::step] = wibbled_mean(squares)
        centres = heights[:, half::step, half::step]
        corners = heights[:, ::step, ::step]
        across = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=2)
        heights[:, ::step, half::step] = wibbled_mean(across)
        down = centres + np.roll(centres, 1, axis=2) + corners + np.roll(corners, -1, axis=1)
        heights[:, half::step, ::step] = wibbled_mean(down)
        step //= 2
        wibble /= wibble_decay
    heights -= heights.min(axis=(1, 2), keepdims=True)
    return heights / heights.max(axis=(1, 2), keepdims=True)


def fog(images: np.ndarray, params: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """Add ``strength`` times a plasma fractal and rescale by max / (max + strength)
    (``params`` = strength, wibble decay). The fractal's side is the image size rounded up to a
    power of two (32 for CIFAR, 64 for Tiny ImageNet, 256 for ImageNet's 224, as the reference),
    cropped to the image."""
    strength, decay = params
    x = to_unit(images)
    n, height, width = x.shape[:3]
    side = 1 << (max(height, width) - 1).bit_length()
    fractal = plasma_fractal(n, side, decay, rng)[:, :height, :width, None]
    peak = x.max(axis=(1, 2, 3), keepdims=True)
    return from_unit((x + strength * fractal) * peak / (peak + strength))


WATER = np.array([175, 238, 238]) / 255.0  # the reference's BGR pale turquoise, applied in array order
MUD = np.array([63, 42, 20]) / 255.0


def _water_texture(liquid: np.ndarray) -> np.ndarray:
    """The reference's water streaks for one uint8 (H, W) liquid layer: Canny edges, distance to
    them (truncated at 20), blurred, equalised, embossed and blurred again."""
    edges = cv2.Canny(liquid, 50, 150)
    dist = cv2.distanceTransform(255 - edges, cv2.DIST_L2, 5)
    dist = np.minimum(dist, 20)
    dist = cv2.equalizeHist(cv2.blur(dist, (3, 3)).astype(np.uint8))
    emboss = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=np.float32)
    dist = cv2.filter2D(dist, cv2.CV_8U, emboss)
    return cv2.blur(dist, (3, 3)).astype(np.float32)


def spatter(images: np.ndarray, params: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    """Water or mud spatter (``params`` = loc, scale, sigma, threshold, intensity, mode 0 water / 1 mud).

    A liquid layer of smoothed Gaussian noise is thresholded. Water adds pale-turquoise streaks
    scaled to ``intensity`` at its maximum; mud replaces the image by brown where the blurred
    (sigma = ``intensity``) liquid mask exceeds 0.8.
    """
    loc, scale, sigma, threshold, intensity, mode = params
    x = to_unit(as_rgb(images)).astype(np.float32)
    n, height, width = x.shape[:3]
    liquid = ndimage.gaussian_filter(rng.normal(loc, scale, size=(n, height, width)), (0, sigma, sigma), mode="nearest")
    liquid[liquid < threshold] = 0
    if mode == 0:
        quantised = (liquid * 255).astype(np.uint8)  # the reference multiplies the uint8 layer
        streaks = np.stack([quantised[i] * _water_texture(quantised[i]) for i in range(n)])
        peak = streaks.max(axis=(1, 2), keepdims=True)
        streaks = np.divide(streaks, peak, out=np.zeros_like(streaks), where=peak > 0) * intensity
        out = x + streaks[..., None] * WATER
    else:
        mask = ndimage.gaussian_filter((liquid > threshold).astype(np.float32), (0, intensity, intensity), mode="nearest")
        mask[mask < 0.8] = 0
        out = x * (1 - mask[..., None]) + MUD * mask[..., None]
    return like_input(from_unit(out), images)
