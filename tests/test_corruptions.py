"""Corruptions: invariants, severity ordering, determinism, and known answers computed here."""

from __future__ import annotations

import colorsys
from collections.abc import Callable

import numpy as np
import pytest

from selrob.corruptions import CORRUPTIONS, SEVERITIES, corrupt
from selrob.errors import SelrobError

RANDOM = {"gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise"}
# Distortion grows with severity for all but saturate, whose severities go 0.3x, 0.1x, 1.5x, ...
MONOTONE = sorted(set(CORRUPTIONS) - {"saturate"})


def images(n: int = 8, size: int = 32, channels: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(30, 226, size=(n, size, size, channels), dtype=np.uint8)


@pytest.mark.parametrize("table", sorted(SEVERITIES))
@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_shape_dtype_and_determinism(name: str, table: str) -> None:
    batch = images(size=32 if table == "cifar10" else 64)
    for severity in range(1, 6):
        out = corrupt(batch, name, severity, table, seed=3)
        assert out.shape == batch.shape and out.dtype == np.uint8
        assert np.array_equal(out, corrupt(batch, name, severity, table, seed=3))
    if name in RANDOM:
        assert not np.array_equal(corrupt(batch, name, 3, table, seed=3), corrupt(batch, name, 3, table, seed=4))


@pytest.mark.parametrize("table", sorted(SEVERITIES))
@pytest.mark.parametrize("name", MONOTONE)
def test_distortion_grows_with_severity(name: str, table: str) -> None:
    batch = images(n=16)
    change = [np.abs(corrupt(batch, name, s, table).astype(float) - batch).mean() for s in range(1, 6)]
    assert all(later > earlier for earlier, later in zip(change, change[1:])), change


def test_contrast_known_answer() -> None:
    batch = images(n=2, size=4)
    out = corrupt(batch, "contrast", 2)  # factor 0.5
    expected = np.empty_like(batch)
    for i in range(2):
        for ch in range(3):
            x = batch[i, :, :, ch] / 255.0
            expected[i, :, :, ch] = (np.clip((x - x.mean()) * 0.5 + x.mean(), 0, 1) * 255).astype(np.uint8)
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


def test_gray_images_stay_gray() -> None:
    gray = images(n=2, channels=1)
    out = corrupt(gray, "brightness", 2)
    assert out.shape == gray.shape
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
