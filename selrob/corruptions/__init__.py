"""Common corruptions for CIFAR-10-C / Tiny-ImageNet-C / ImageNet-C (Hendrycks & Dietterich 2019), batched.

All 19 corruptions of the reference scripts, on uint8 (N, H, W, C) batches. Parameters per
severity (1..5) are the reference scripts' tables for 32-pixel CIFAR-10-C (``cifar10``), 64-pixel
Tiny-ImageNet-C (``tinyimagenet``) and 224-pixel ImageNet-C (``imagenet``), from Hendrycks'
``make_cifar_c.py``, ``make_tinyimagenet_c.py`` and ``make_imagenet_c.py``.
``COMMON`` lists the 15 corruptions that benchmarks average over, ``EXTRA`` the other 4.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from selrob.corruptions.blur import defocus_blur, gaussian_blur, glass_blur, motion_blur, zoom_blur
from selrob.corruptions.common import Corruption, check_batch
from selrob.corruptions.digital import elastic_transform, jpeg_compression, pixelate
from selrob.corruptions.noise import gaussian_noise, impulse_noise, shot_noise, speckle_noise
from selrob.corruptions.photometric import brightness, contrast, saturate
from selrob.corruptions.weather import fog, frost, snow, spatter
from selrob.data.corrupted_names import RELEASE_CORRUPTIONS
from selrob.errors import SelrobError

# Bump when any corruption's output changes: generated sets and their evaluations are keyed by it.
ALGORITHM_VERSION = 1

_BY_NAME: dict[str, Corruption] = {function.__name__: function for function in (
    gaussian_noise, shot_noise, impulse_noise, defocus_blur, glass_blur, motion_blur, zoom_blur, snow, frost, fog,
    brightness, contrast, elastic_transform, pixelate, jpeg_compression, speckle_noise, gaussian_blur, spatter,
    saturate,
)}
#: Every corruption by its release name, in the release's order: the 15 common ones, then the 4 extras.
CORRUPTIONS: dict[str, Corruption] = {name: _BY_NAME[name] for name in RELEASE_CORRUPTIONS}
COMMON: tuple[str, ...] = tuple(CORRUPTIONS)[:15]
EXTRA: tuple[str, ...] = tuple(CORRUPTIONS)[15:]

Params = float | tuple[float, ...]
# frost: (image weight, frost weight, photograph scale); zoom_blur: (top, step) of the zoom
# factors' np.arange(1, top, step); elastic_transform: (alpha, sigma, affine) as fractions of the
# image size, or of a fourth entry (ImageNet's 244, see digital.elastic_pixels).
SEVERITIES: dict[str, dict[str, tuple[Params, ...]]] = {
    "cifar10": {
        "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
        "shot_noise": (500, 250, 100, 75, 50),
        "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
        "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1)),
        "glass_blur": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
        "motion_blur": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),
        "zoom_blur": ((1.06, 0.01), (1.11, 0.01), (1.16, 0.01), (1.21, 0.01), (1.26, 0.01)),
        "snow": (
            (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
            (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
            (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
            (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
            (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
        ),
        "frost": ((1, 0.2, 0.2), (1, 0.3, 0.2), (0.9, 0.4, 0.2), (0.85, 0.4, 0.2), (0.75, 0.45, 0.2)),
        "fog": ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)),
        "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
        "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
        "elastic_transform": ((0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)),
        "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),
        "jpeg_compression": (80, 65, 58, 50, 40),
        "speckle_noise": (0.06, 0.10, 0.12, 0.16, 0.20),
        "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),
        "spatter": (
            (0.62, 0.1, 0.7, 0.7, 0.5, 0),
            (0.65, 0.1, 0.8, 0.7, 0.5, 0),
            (0.65, 0.3, 1, 0.69, 0.5, 0),
            (0.65, 0.1, 0.7, 0.69, 0.6, 1),
            (0.65, 0.1, 0.5, 0.68, 0.6, 1),
        ),
        "saturate": ((0.3, 0.0), (0.1, 0.0), (1.5, 0.0), (2.0, 0.1), (2.5, 0.2)),
    },
    "tinyimagenet": {
        "gaussian_noise": (0.04, 0.08, 0.12, 0.15, 0.18),
        "shot_noise": (250, 100, 50, 30, 15),
        "impulse_noise": (0.01, 0.02, 0.05, 0.08, 0.14),
        "defocus_blur": ((0.5, 0.6), (1.0, 0.1), (1.5, 0.1), (2.5, 0.01), (3.0, 0.1)),
        "glass_blur": ((0.1, 1, 1), (0.5, 1, 1), (0.6, 1, 2), (0.7, 2, 1), (0.9, 2, 2)),
        "motion_blur": ((10, 1), (10, 1.5), (10, 2), (10, 2.5), (12, 3)),
        "zoom_blur": ((1.06, 0.01), (1.11, 0.01), (1.16, 0.01), (1.21, 0.01), (1.26, 0.01)),
        "snow": (
            (0.1, 0.2, 1, 0.6, 8, 3, 0.8),
            (0.1, 0.2, 1, 0.5, 10, 4, 0.8),
            (0.15, 0.3, 1.75, 0.55, 10, 4, 0.7),
            (0.25, 0.3, 2.25, 0.6, 12, 6, 0.65),
            (0.3, 0.3, 1.25, 0.65, 14, 12, 0.6),
        ),
        "frost": ((1, 0.3, 0.3), (0.9, 0.4, 0.3), (0.8, 0.45, 0.3), (0.75, 0.5, 0.3), (0.7, 0.55, 0.3)),
        "fog": ((0.4, 3), (0.7, 3), (1, 2.5), (1.5, 2), (2, 1.75)),
        "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),
        "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),
        "elastic_transform": ((0, 0, 0.08), (0.05, 0.3, 0.06), (0.1, 0.08, 0.06), (0.1, 0.03, 0.03), (0.16, 0.03, 0.02)),
        "pixelate": (0.9, 0.8, 0.7, 0.6, 0.5),
        "jpeg_compression": (65, 58, 50, 40, 25),
        "speckle_noise": (0.15, 0.20, 0.25, 0.30, 0.35),
        "gaussian_blur": (0.5, 0.75, 1.0, 1.25, 1.5),
        "spatter": (
            (0.62, 0.1, 0.7, 0.7, 0.6, 0),
            (0.65, 0.1, 0.8, 0.7, 0.6, 0),
            (0.65, 0.3, 1, 0.69, 0.6, 0),
            (0.65, 0.1, 0.7, 0.68, 0.6, 1),
            (0.65, 0.1, 0.5, 0.67, 0.6, 1),
        ),
        "saturate": ((0.3, 0.0), (0.1, 0.0), (2.0, 0.0), (5.0, 0.1), (30.0, 0.2)),
    },
    # make_imagenet_c.py, for Resize(256) + CenterCrop(224) validation images.
    "imagenet": {
        "gaussian_noise": (0.08, 0.12, 0.18, 0.26, 0.38),
        "shot_noise": (60, 25, 12, 5, 3),
        "impulse_noise": (0.03, 0.06, 0.09, 0.17, 0.27),
        "defocus_blur": ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)),
        "glass_blur": ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)),
        "motion_blur": ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15)),
        # the only table whose steps differ between severities
        "zoom_blur": ((1.11, 0.01), (1.16, 0.01), (1.21, 0.02), (1.26, 0.02), (1.31, 0.03)),
        "snow": (
            (0.1, 0.3, 3, 0.5, 10, 4, 0.8),
            (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
            (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
            (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
            (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55),
        ),
        # scale 1: the script crops the photographs as they are
        "frost": ((1, 0.4, 1.0), (0.8, 0.6, 1.0), (0.7, 0.7, 1.0), (0.65, 0.7, 1.0), (0.6, 0.75, 1.0)),
        "fog": ((1.5, 2), (2, 2), (2.5, 1.7), (2.5, 1.5), (3, 1.4)),
        "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),
        "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),
        # fractions of 244, not 224: the script's slip ("244 should have been 224"), kept because
        # the release was made with it; 244 * fraction gives the script's own pixel values
        "elastic_transform": (
            (2, 0.7, 0.1, 244), (2, 0.08, 0.2, 244), (0.05, 0.01, 0.02, 244), (0.07, 0.01, 0.02, 244),
            (0.12, 0.01, 0.02, 244),
        ),
        "pixelate": (0.6, 0.5, 0.4, 0.3, 0.25),
        "jpeg_compression": (25, 18, 15, 10, 7),
        "speckle_noise": (0.15, 0.2, 0.35, 0.45, 0.6),
        "gaussian_blur": (1, 2, 3, 4, 6),
        "spatter": (
            (0.65, 0.3, 4, 0.69, 0.6, 0),
            (0.65, 0.3, 3, 0.68, 0.6, 0),
            (0.65, 0.3, 2, 0.68, 0.5, 0),
            (0.65, 0.3, 1, 0.65, 1.5, 1),
            (0.67, 0.4, 1, 0.65, 1.5, 1),
        ),
        "saturate": ((0.3, 0.0), (0.1, 0.0), (2.0, 0.0), (5.0, 0.1), (20.0, 0.2)),
    },
}


def corrupt(
    images: np.ndarray, name: str, severity: int, table: str = "cifar10", seed: int | Sequence[int] = 0
) -> np.ndarray:
    """Apply corruption ``name`` at ``severity`` (1..5) with the parameters of ``table``.

    Args:
        images: uint8 batch (N, H, W, C), C in {1, 3}.
        table: ``cifar10`` (32-pixel parameters), ``tinyimagenet`` (64-pixel parameters) or
            ``imagenet`` (224-pixel parameters). Any table works at any size, but only these
            sizes reproduce the releases.
        seed: seeds the corruption's random numbers (an int or a sequence of ints, as NumPy's
            ``default_rng``); the same seed gives the same output.

    BLAS runs on one thread here: how a product is split between threads changes its last bits,
    and a value on a rounding edge then changes a uint8 level (zoom blur's pixel operator moved 5
    of 115,200 digits-C values between one and two threads). On a given machine and BLAS the output
    depends on the seed alone, not on the caller's thread count or on how many worker processes
    share the work.
    """
    check_batch(images)
    if name not in CORRUPTIONS:
        raise SelrobError(f"unknown corruption {name!r}; choose one of: {', '.join(CORRUPTIONS)}")
    if table not in SEVERITIES:
        raise SelrobError(f"unknown severity table {table!r}; choose one of: {', '.join(SEVERITIES)}")
    if severity not in range(1, 6):
        raise SelrobError(f"severity must be 1..5, got {severity}")
    params = SEVERITIES[table][name][severity - 1]
    with threadpool_limits(limits=1, user_api="blas"):
        return CORRUPTIONS[name](images, params, np.random.default_rng(seed))
