"""Photometric corruptions: brightness and saturation (in HSV) and contrast.

The reference converts to HSV, changes one channel and converts back. With hue fixed, RGB is
``V * (1 - S * g(hue))`` channel by channel, so both changes have closed forms on RGB directly:
scaling V scales the pixel, and changing S moves each channel towards or away from V. This avoids
the two colour-space conversions, which dominated the cost.
"""

from __future__ import annotations

import numpy as np

from selrob.corruptions.common import as_rgb, from_unit, like_input, to_unit


def brightness(images: np.ndarray, shift: float, rng: np.random.Generator) -> np.ndarray:
    """Add ``shift`` to the HSV value channel (clipped to [0, 1]). Deterministic.

    Black pixels (V = 0) have S = 0 by the HSV convention, so they become gray at the new value.
    """
    x = to_unit(as_rgb(images))
    value = x.max(axis=-1, keepdims=True)
    new_value = np.clip(value + shift, 0.0, 1.0)
    ratio = np.divide(new_value, value, out=np.zeros_like(value), where=value > 0)
    out = np.where(value > 0, x * ratio, new_value)
    return like_input(from_unit(out), images)


def saturate(images: np.ndarray, params: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """Scale the HSV saturation by ``params[0]`` and add ``params[1]`` (clipped). Deterministic.

    Gray pixels (S = 0) have hue 0 by the HSV convention, so a positive shift tints them red, as
    in the reference.
    """
    scale, shift = params
    x = to_unit(as_rgb(images))
    value = x.max(axis=-1, keepdims=True)
    chroma = value - x.min(axis=-1, keepdims=True)
    saturation = np.divide(chroma, value, out=np.zeros_like(value), where=value > 0)
    new_saturation = np.clip(saturation * scale + shift, 0.0, 1.0)
    ratio = np.divide(new_saturation, saturation, out=np.zeros_like(value), where=saturation > 0)
    red = np.concatenate([value, value * (1 - new_saturation), value * (1 - new_saturation)], axis=-1)
    out = np.where(saturation > 0, value - (value - x) * ratio, red)
    return like_input(from_unit(out), images)


def contrast(images: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """(x - mean) * factor + mean, with each image's per-channel spatial mean. Deterministic."""
    x = to_unit(images)
    means = x.mean(axis=(1, 2), keepdims=True)
    return from_unit((x - means) * factor + means)
