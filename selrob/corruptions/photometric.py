"""Photometric corruptions: brightness and saturation (in HSV) and contrast."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from matplotlib.colors import hsv_to_rgb, rgb_to_hsv

from selrob.corruptions.common import as_rgb, from_unit, like_input, to_unit


def _adjust_hsv(images: np.ndarray, channel: int, change: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply ``change`` to one HSV channel, clip it to [0, 1] and convert back."""
    hsv = rgb_to_hsv(to_unit(as_rgb(images)))
    hsv[..., channel] = np.clip(change(hsv[..., channel]), 0.0, 1.0)
    return like_input(from_unit(hsv_to_rgb(hsv)), images)


def brightness(images: np.ndarray, shift: float, rng: np.random.Generator) -> np.ndarray:
    """Add ``shift`` to the HSV value channel (clipped to [0, 1]). Deterministic."""
    return _adjust_hsv(images, 2, lambda value: value + shift)


def saturate(images: np.ndarray, params: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """Scale the HSV saturation by ``params[0]`` and add ``params[1]`` (clipped). Deterministic."""
    scale, shift = params
    return _adjust_hsv(images, 1, lambda saturation: saturation * scale + shift)


def contrast(images: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """(x - mean) * factor + mean, with each image's per-channel spatial mean. Deterministic."""
    x = to_unit(images)
    means = x.mean(axis=(1, 2), keepdims=True)
    return from_unit((x - means) * factor + means)
