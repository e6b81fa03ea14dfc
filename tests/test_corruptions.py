"""Corruptions: invariants, severity ordering, determinism, and known answers computed here."""

from __future__ import annotations

import colorsys
from collections.abc import Callable

import numpy as np
import pytest

from selrob.corruptions import CORRUPTIONS, SEVERITIES, corrupt
from selrob.errors import SelrobError

DETERMINISTIC = {"defocus_blur", "zoom_blur", "brightness", "contrast", "pixelate", "jpeg_compression",
                 "gaussian_blur", "saturate"}
RANDOM = sorted(set(CORRUPTIONS) - DETERMINISTIC)
# Mean absolute change grows (or stays, where two severities share parameters in effect) with
# severity except where the published tables trade one parameter against another: saturate goes
# 0.3x, 0.1x, 1.5x...; elastic's affine part shrinks as its elastic part grows; frost lowers the
# image weight as it raises the frost weight; spatter switches from water to mud at severity 4;
# CIFAR glass blur lowers sigma at severity 4 as it doubles the iterations.
MONOTONE = sorted(set(CORRUPTIONS) - {"saturate", "elastic_transform", "frost", "spatter", "glass_blur"})
# ImageNet's snow raises the flakes' threshold at severity 3 (fewer flakes) as it raises their mean.
NOT_MONOTONE_IN = {"imagenet": {"snow"}}


def images(n: int = 8, size: int = 32, channels: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(30, 226, size=(n, size, size, channels), dtype=np.uint8)


@pytest.mark.parametrize("table", sorted(SEVERITIES))
@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_shape_dtype_and_determinism(name: str, table: str) -> None:
    batch = images(n=2, size=32 if table == "cifar10" else 64)  # two images: a batch, at a quarter of the cost
    for severity in range(1, 6):
        out = corrupt(batch, name, severity, table, seed=3)
        assert out.shape == batch.shape and out.dtype == np.uint8
        assert np.array_equal(out, corrupt(batch, name, severity, table, seed=3))
    other_seed = corrupt(batch, name, 3, table, seed=4)
    assert np.array_equal(corrupt(batch, name, 3, table, seed=3), other_seed) == (name in DETERMINISTIC)


@pytest.mark.parametrize(("name", "table"), [
    pytest.param(name, table, id=f"{name}-{table}")
    for table in sorted(SEVERITIES) for name in MONOTONE if name not in NOT_MONOTONE_IN.get(table, ())
])
def test_distortion_grows_with_severity(name: str, table: str) -> None:
    batch = images(n=16)
    change = [np.abs(corrupt(batch, name, s, table).astype(float) - batch).mean() for s in range(1, 6)]
    assert all(later >= earlier for earlier, later in zip(change, change[1:])) and change[-1] > change[0], change


def test_contrast_known_answer() -> None:
    batch = images(n=2, size=4)
    out = corrupt(batch, "contrast", 2)  # factor 0.5
    expected = np.empty_like(batch)
    for i in range(2):
        for ch in range(3):
            x = batch[i, :, :, ch] / 255.0
            expected[i, :, :, ch] = (np.clip((x - x.mean()) * 0.5 + x.mean(), 0, 1) * 255).astype(np.uint8)
    # Exact by construction: before truncation a value is (16 k + S) / 32 exactly (k the pixel, S the sum
    # of its channel's 16 pixels), so unless that is a whole number it lies 1/32 or more from the
    # truncation boundaries, against float error of 3e-14 (means summed in another order included).
    sums = batch.astype(int).sum(axis=(1, 2), keepdims=True)
    assert ((16 * batch.astype(int) + sums) % 32 != 0).all()
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(("name", "severity", "change"), [
    ("brightness", 3, lambda h, s, v: (h, s, min(v + 0.15, 1.0))),
    ("saturate", 4, lambda h, s, v: (h, min(s * 2.0 + 0.1, 1.0), v)),
])
def test_hsv_corruptions_match_colorsys(
    name: str, severity: int, change: Callable[[float, float, float], tuple[float, float, float]]
) -> None:
    batch = images(n=1, size=4)
    out = corrupt(batch, name, severity)
    for row in range(4):
        for col in range(4):
            r, g, b = (batch[0, row, col] / 255.0).tolist()
            expected = colorsys.hsv_to_rgb(*change(*colorsys.rgb_to_hsv(r, g, b)))
            want = (np.clip(expected, 0, 1) * 255).astype(np.uint8)
            assert np.abs(out[0, row, col].astype(int) - want).max() <= 1  # float rounding at .0 boundaries


def test_gaussian_blur_known_answer() -> None:
    batch = images(n=1, size=8)
    sigma = 1.0  # CIFAR severity 5
    radius = int(4 * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    weights = np.exp(-(offsets**2) / (2 * sigma**2))
    weights /= weights.sum()
    padded = np.pad(batch[0] / 255.0, ((radius, radius), (radius, radius), (0, 0)), mode="edge")
    rows = sum(w * padded[radius + o : radius + o + 8, :, :] for o, w in zip(offsets, weights))
    both = sum(w * rows[:, radius + o : radius + o + 8, :] for o, w in zip(offsets, weights))
    expected = (np.clip(both, 0, 1) * 255).astype(np.uint8)
    out = corrupt(batch, "gaussian_blur", 5)[0]
    assert np.abs(out.astype(int) - expected).max() <= 1 and (out == expected).mean() > 0.98


def test_defocus_blur_known_answer() -> None:
    # Radius 0.3 keeps only the disk's centre, so the kernel is the 3x3 Gaussian (sigma 0.4) itself.
    batch = images(n=1, size=6)
    g = np.exp(-np.array([1.0, 0.0, 1.0]) / (2 * 0.4**2))
    kernel = np.outer(g, g) / np.outer(g, g).sum()
    padded = np.pad(batch[0] / 255.0, ((1, 1), (1, 1), (0, 0)), mode="reflect")  # OpenCV's reflect-101
    filtered = sum(kernel[i, j] * padded[i : i + 6, j : j + 6, :] for i in range(3) for j in range(3))
    expected = (np.clip(filtered, 0, 1) * 255).astype(np.uint8)
    out = corrupt(batch, "defocus_blur", 1)[0]
    assert np.abs(out.astype(int) - expected).max() <= 1 and (out == expected).mean() > 0.98


def test_pixelate_known_answer() -> None:
    from selrob.corruptions.digital import pixelate

    block = np.array([[0, 10, 100, 100], [20, 30, 100, 100], [40, 40, 8, 0], [40, 40, 0, 8]], dtype=np.uint8)
    batch = np.repeat(block[None, :, :, None], 3, axis=-1)
    expected = np.kron(np.array([[15, 100], [40, 4]]), np.ones((2, 2), dtype=np.uint8))  # 2x2 block means
    out = pixelate(batch, 0.5, np.random.default_rng(0))
    np.testing.assert_array_equal(out[0, :, :, 0], expected)
    np.testing.assert_array_equal(pixelate(batch[..., :1], 0.5, np.random.default_rng(0))[..., 0], out[..., 0])


def test_gray_images_stay_gray() -> None:
    gray = images(n=2, channels=1)
    out = corrupt(gray, "brightness", 2)
    assert out.shape == gray.shape
    # Exact by construction: the same RGB computation, whose equal channels v give a luma within 1e-13
    # of the whole number v, so rounding it gives v back.
    np.testing.assert_array_equal(out, corrupt(np.repeat(gray, 3, axis=-1), "brightness", 2)[..., :1])


def test_noise_statistics() -> None:
    flat = np.full((4, 64, 64, 3), 128, dtype=np.uint8)
    x = 128 / 255
    residual = corrupt(flat, "gaussian_noise", 5, "tinyimagenet") / 255.0 - x  # sigma 0.18
    assert residual.std() == pytest.approx(0.18, rel=0.05)
    replaced = np.isin(corrupt(flat, "impulse_noise", 5, "tinyimagenet"), (0, 255)).mean()  # amount 0.14
    assert replaced == pytest.approx(0.14, rel=0.05)
    shot = corrupt(flat, "shot_noise", 5, "tinyimagenet") / 255.0  # c = 15: variance x / c
    assert shot.var() == pytest.approx(x / 15, rel=0.1)


def test_bad_arguments_are_clear_errors() -> None:
    with pytest.raises(SelrobError, match="unknown corruption 'rain'"):
        corrupt(images(), "rain", 1)
    with pytest.raises(SelrobError, match="severity must be 1..5"):
        corrupt(images(), "contrast", 6)
    with pytest.raises(ValueError, match="uint8"):
        corrupt(images().astype(np.float32), "contrast", 1)


def test_gallery_of_a_cifar_sized_photograph() -> None:
    from selrob.corruptions.gallery import corruption_gallery, sample_image

    image = sample_image(32)
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8 and image.std() > 20
    gallery = corruption_gallery(image)
    assert list(gallery) == list(CORRUPTIONS)
    for name, stack in gallery.items():
        assert stack.shape == (6, 32, 32, 3)
        np.testing.assert_array_equal(stack[0], image)
        np.testing.assert_array_equal(stack[3], corrupt(image[None], name, 3)[0])
