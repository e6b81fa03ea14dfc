"""Common corruptions for CIFAR-10-C / Tiny-ImageNet-C (Hendrycks & Dietterich 2019), batched.

Work in progress (issue 3): the noise, photometric, Gaussian/defocus blur and pixelate corruptions
are implemented; glass/motion/zoom blur, weather, elastic, JPEG and spatter corruptions, -C
generation and loaders are still to come.

Parameters per severity (1..5) are the reference scripts' tables for 32-pixel CIFAR-10-C
(``cifar10``) and 64-pixel Tiny-ImageNet-C (``tinyimagenet``).
"""

from __future__ import annotations

import numpy as np

from selrob.corruptions.blur import defocus_blur, gaussian_blur, pixelate
from selrob.corruptions.common import Corruption, check_batch
from selrob.corruptions.noise import gaussian_noise, impulse_noise, shot_noise, speckle_noise
from selrob.corruptions.photometric import brightness, contrast, saturate
from selrob.errors import SelrobError

CORRUPTIONS: dict[str, Corruption] = {
    "gaussian_noise": gaussian_noise,
    "shot_noise": shot_noise,
    "impulse_noise": impulse_noise,
    "speckle_noise": speckle_noise,
    "brightness": brightness,
    "contrast": contrast,
    "saturate": saturate,
    "gaussian_blur": gaussian_blur,
    "defocus_blur": defocus_blur,
    "pixelate": pixelate,
}

SEVERITIES: dict[str, dict[str, tuple[float | tuple[float, ...], ...]]] = {
    "cifar10": {
        "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
        "shot_noise": (500, 250, 100, 75, 50),
        "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
        "speckle_noise": (0.06, 0.10, 0.12, 0.16, 0.20),
        "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
        "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
        "saturate": ((0.3, 0.0), (0.1, 0.0), (1.5, 0.0), (2.0, 0.1), (2.5, 0.2)),
        "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),
        "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1)),
        "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),
    },
    "tinyimagenet": {
        "gaussian_noise": (0.04, 0.08, 0.12, 0.15, 0.18),
        "shot_noise": (250, 100, 50, 30, 15),
        "impulse_noise": (0.01, 0.02, 0.05, 0.08, 0.14),
        "speckle_noise": (0.15, 0.20, 0.25, 0.30, 0.35),
        "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),
        "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),
        "saturate": ((0.3, 0.0), (0.1, 0.0), (2.0, 0.0), (5.0, 0.1), (30.0, 0.2)),
        "gaussian_blur": (0.5, 0.75, 1.0, 1.25, 1.5),
        "defocus_blur": ((0.5, 0.6), (1.0, 0.1), (1.5, 0.1), (2.5, 0.01), (3.0, 0.1)),
        "pixelate": (0.9, 0.8, 0.7, 0.6, 0.5),
    },
}


def corrupt(images: np.ndarray, name: str, severity: int, table: str = "cifar10", seed: int = 0) -> np.ndarray:
    """Apply corruption ``name`` at ``severity`` (1..5) with the parameters of ``table``.

    Args:
        images: uint8 batch (N, H, W, C), C in {1, 3}.
        table: ``cifar10`` (32-pixel parameters) or ``tinyimagenet`` (64-pixel parameters).
        seed: seeds the corruption's random numbers; the same seed gives the same output.
    """
    check_batch(images)
    if name not in CORRUPTIONS:
        raise SelrobError(f"unknown corruption {name!r}; choose one of: {', '.join(CORRUPTIONS)}")
    if table not in SEVERITIES:
        raise SelrobError(f"unknown severity table {table!r}; choose one of: {', '.join(SEVERITIES)}")
    if severity not in range(1, 6):
        raise SelrobError(f"severity must be 1..5, got {severity}")
    params = SEVERITIES[table][name][severity - 1]
    return CORRUPTIONS[name](images, params, np.random.default_rng(seed))
