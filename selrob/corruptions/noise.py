"""Noise corruptions: Gaussian, shot (Poisson), impulse (salt and pepper) and speckle.

Per-element noise is independent, so each function handles the whole batch in one vectorised call.
"""

from __future__ import annotations

import numpy as np

from selrob.corruptions.common import from_unit, to_unit


def gaussian_noise(images: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """x + N(0, sigma^2), per element."""
    x = to_unit(images)
    return from_unit(x + rng.normal(0.0, sigma, size=x.shape))


def shot_noise(images: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson(x * c) / c: photon noise with ``c`` photons at full intensity."""
    return from_unit(rng.poisson(to_unit(images) * c) / c)


def impulse_noise(images: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Salt and pepper with scikit-image's ``random_noise(mode="s&p")`` semantics.

    Each element (pixel and channel) is replaced with probability ``amount``, by 1 or 0 with equal
    probability.
    """
    x = to_unit(images)
    replaced = rng.random(x.shape) < amount
    salt = rng.random(x.shape) < 0.5
    x = np.where(replaced & salt, 1.0, x)
    return from_unit(np.where(replaced & ~salt, 0.0, x))


def speckle_noise(images: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """x + x * N(0, sigma^2): multiplicative noise."""
    x = to_unit(images)
    return from_unit(x + x * rng.normal(0.0, sigma, size=x.shape))
