"""Shared conventions of the common corruptions (Hendrycks & Dietterich 2019).

Corruptions work on uint8 batches in the -C release's layout, (N, H, W, C), like the
CIFAR-10-C ``.npy`` files. Each scales to [0, 1] in float64, corrupts, clips, multiplies by 255 and
truncates to uint8, as the reference scripts do. One-channel images (digits) go through the
colour-defined corruptions as gray RGB images and come back as their luma (ITU-R 601 weights, the
reference's own RGB-to-gray conversion).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Corruption = Callable[[np.ndarray, float | tuple[float, ...], np.random.Generator], np.ndarray]


def check_batch(images: np.ndarray) -> None:
    """Raise ``ValueError`` unless ``images`` is a uint8 (N, H, W, C) batch with C in {1, 3}."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"expected a uint8 (N, H, W, 1 or 3) batch, got {images.dtype} {images.shape}")


def to_unit(images: np.ndarray) -> np.ndarray:
    """uint8 -> float64 in [0, 1]."""
    return images.astype(np.float64) / 255.0


def from_unit(images: np.ndarray) -> np.ndarray:
    """Clip to [0, 1], scale by 255 and truncate to uint8 (the reference scripts' conversion)."""
    return (np.clip(images, 0.0, 1.0) * 255.0).astype(np.uint8)


def as_rgb(images: np.ndarray) -> np.ndarray:
    """Repeat a single channel three times (for the corruptions defined on colour)."""
    return np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images


LUMA = np.array([0.299, 0.587, 0.114])


def like_input(corrupted: np.ndarray, images: np.ndarray) -> np.ndarray:
    """Back to the input's channel count: gray in, luma out (rounded; equal channels are kept)."""
    if images.shape[-1] == 3:
        return corrupted
    return np.clip(np.rint(corrupted @ LUMA), 0, 255).astype(np.uint8)[..., None]
