"""The building blocks of the geometric, digital and weather corruptions against independent
computations: SciPy for resampling, a literal per-pixel loop for glass blur, ImageMagick's formulas
for motion blur, a hand-written baseline JPEG for PIL's codec, and the frost photographs' fetch."""

from __future__ import annotations

import hashlib
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
from scipy import fft, ndimage

from selrob.corruptions import corrupt, frost_photos
from selrob.corruptions.blur import glass_blur
from selrob.corruptions.resample import bilinear_sample, clipped_zoom, motion_blur_batch
from selrob.corruptions.weather import plasma_fractal
from selrob.errors import SelrobError
from support.frost import write_frost_photos


def test_bilinear_sample_matches_scipy_map_coordinates() -> None:
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(3, 9, 7, 2))
    rows, cols = rng.uniform(-12, 20, size=(2, 3, 9, 7))
    out = bilinear_sample(images, rows, cols)
    for i in range(3):
        for ch in range(2):
            expected = ndimage.map_coordinates(images[i, :, :, ch], [rows[i], cols[i]], order=1, mode="reflect")
            np.testing.assert_allclose(out[i, :, :, ch], expected, atol=1e-12)


@pytest.mark.parametrize("factor", [1.0, 1.07, 1.25, 1.75, 2.25])
def test_clipped_zoom_matches_the_reference_scipy_zoom(factor: float) -> None:
    image = np.random.default_rng(1).uniform(size=(32, 32, 1))
    crop = int(np.ceil(32 / factor))
    top = (32 - crop) // 2
    zoomed = ndimage.zoom(image[top : top + crop, top : top + crop], (factor, factor, 1), order=1)
    trim = (zoomed.shape[0] - 32) // 2
    expected = zoomed[trim : trim + 32, trim : trim + 32]
    np.testing.assert_allclose(clipped_zoom(image[None], factor)[0], expected, atol=1e-12)


@pytest.mark.parametrize("angle", [0.0, 90.0])
def test_motion_blur_is_imagemagicks_one_sided_line(angle: float) -> None:
    image = np.random.default_rng(2).integers(0, 256, size=(1, 10, 12, 3), dtype=np.uint8)
    radius, sigma = 3, 1.5
    taps = np.arange(2 * radius + 1)
    weights = np.exp(-(taps**2) / (2 * sigma**2))
    weights /= weights.sum()
    out = motion_blur_batch(image, radius, sigma, np.array([angle]))[0]
    expected = np.zeros((10, 12, 3))
    for y in range(10):
        for x in range(12):
            for i, w in zip(taps, weights):
                # angle 0 reads to the right, 90 downwards; reads past the edge take the edge pixel
                yy, xx = (y, min(x + i, 11)) if angle == 0 else (min(y + i, 9), x)
                expected[y, x] += w * image[0, yy, xx]
    # Ours sums in float32 (measured 4e-5 from this float64 sum), so a value within 1e-3 (25x) of a
    # rounding boundary (x.5) may round either way: one level there (3 of 360 values at 90 degrees,
    # the nearest 2e-4 away), exact elsewhere. Taps read the other way move 346 of 360 by more than one.
    rounded = np.clip(np.rint(expected), 0, 255)
    near_tie = np.abs(expected - np.floor(expected) - 0.5) < 1e-3
    np.testing.assert_array_equal(out[~near_tie], rounded[~near_tie].astype(np.uint8))
    assert np.abs(out.astype(int) - rounded).max() <= 1


def test_glass_blur_matches_the_reference_pixel_loop() -> None:
    images = np.random.default_rng(3).integers(0, 256, size=(2, 8, 8, 3), dtype=np.uint8)
    sigma, delta, iterations = 1e-3, 1, 2  # sigma so small the blurs are the identity
    out = glass_blur(images, (sigma, delta, iterations), np.random.default_rng(5))
    rng = np.random.default_rng(5)
    expected = (images / 255.0 * 255).astype(np.uint8)
    rows = range(8 - delta, delta, -1)
    offsets = [rng.integers(-delta, delta, size=(len(rows), len(rows), 2, 2)) for _ in range(iterations)]
    for k in range(2):
        x = expected[k]
        for drawn in offsets:
            for i, h in enumerate(rows):
                for j, w in enumerate(rows):
                    dx, dy = drawn[i, j, :, k]
                    # the reference's "swap" of NumPy views, kept literally
                    x[h, w], x[h + dy, w + dx] = x[h + dy, w + dx], x[h, w]
    np.testing.assert_array_equal(out, expected)
    assert not np.array_equal(out, images)


def _ijg_table(quality: int) -> np.ndarray:
    """The IJG standard luminance quantisation table scaled for ``quality`` as libjpeg does."""
    base = np.array([
        [16, 11, 10, 16, 24, 40, 51, 61], [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56], [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77], [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101], [72, 92, 95, 98, 112, 100, 103, 99],
    ])
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip((base * scale + 50) // 100, 1, 255)


@pytest.mark.parametrize(("severity", "quality"), [(2, 65), (4, 50), (5, 40)])
def test_jpeg_matches_a_baseline_jpeg_by_hand(severity: int, quality: int) -> None:
    # One gray 8x8 block: level shift, orthonormal 2-D DCT, quantise, dequantise, inverse DCT.
    row = np.arange(8)
    block = (128 + 60 * np.sin(row[:, None] / 2.5) * np.cos(row[None, :] / 3.0) + 3 * row[None, :]).astype(np.uint8)
    table = _ijg_table(quality)
    coefficients = np.round(fft.dctn(block - 128.0, norm="ortho") / table) * table
    expected = np.clip(np.round(fft.idctn(coefficients, norm="ortho") + 128), 0, 255)
    out = corrupt(block[None, :, :, None], "jpeg_compression", severity)[0, :, :, 0]
    assert np.abs(out.astype(int) - expected).max() <= 1  # libjpeg's integer DCT rounds differently
    assert not np.array_equal(out, block)


def test_plasma_fractal_maps() -> None:
    maps = plasma_fractal(3, 32, 2.0, np.random.default_rng(0))
    assert maps.shape == (3, 32, 32)
    np.testing.assert_allclose(maps.min(axis=(1, 2)), 0)
    np.testing.assert_allclose(maps.max(axis=(1, 2)), 1)
    assert not np.allclose(maps[0], maps[1])
    np.testing.assert_array_equal(maps, plasma_fractal(3, 32, 2.0, np.random.default_rng(0)))
    # slower decay keeps more fine detail: larger jumps between neighbours
    rough = plasma_fractal(8, 32, 1.2, np.random.default_rng(0))
    smooth = plasma_fractal(8, 32, 3.0, np.random.default_rng(0))
    assert np.abs(np.diff(rough, axis=2)).mean() > np.abs(np.diff(smooth, axis=2)).mean()
    with pytest.raises(ValueError, match="power of two"):
        plasma_fractal(1, 30, 2.0, np.random.default_rng(0))


def test_frost_mixes_image_and_a_crop_of_a_photograph(stand_in_frost_photos: dict[str, str]) -> None:
    image = np.full((1, 32, 32, 3), 100, dtype=np.uint8)
    out = corrupt(image, "frost", 5).astype(float)  # 0.75 x + 0.45 frost
    patch = (out - 75) / 0.45
    assert patch.min() >= -1 and patch.max() <= 256
    assert patch.std() > 1  # the texture shows through


def _wheel(folder: Path, photos: Path, tamper: str | None = None) -> Path:
    wheel = folder / "imagecorruptions.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name in frost_photos.PHOTOS:
            data = (photos / name).read_bytes()
            archive.writestr(f"imagecorruptions/frost/{name}", data + (b"x" if name == tamper else b""))
        archive.writestr("../outside.txt", "never extracted")
    return wheel


def test_frost_photos_are_taken_from_the_wheel_by_name_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = tmp_path / "photos"
    sums = write_frost_photos(photos)
    monkeypatch.setattr(frost_photos, "PHOTOS", sums)
    wheel = _wheel(tmp_path, photos)
    monkeypatch.setattr(frost_photos, "WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    target = tmp_path / "data" / "frost"
    assert frost_photos.fetch_frost_photos(target, url=wheel.as_uri(), progress=False) == target
    assert sorted(p.name for p in target.iterdir()) == sorted(sums)
    assert not (tmp_path / "data" / "outside.txt").exists()
    for name in sums:
        assert (target / name).read_bytes() == (photos / name).read_bytes()


def test_frost_photos_refuse_a_wrong_wheel_or_photograph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    photos = tmp_path / "photos"
    monkeypatch.setattr(frost_photos, "PHOTOS", write_frost_photos(photos))
    wheel = _wheel(tmp_path, photos, tamper="frost3.png")
    target = tmp_path / "frost"
    with pytest.raises(SelrobError, match="checksum mismatch"):
        frost_photos.fetch_frost_photos(target, url=wheel.as_uri(), progress=False)
    monkeypatch.setattr(frost_photos, "WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    with pytest.raises(SelrobError, match="frost3.png .* fails its SHA-256 check"):
        frost_photos.fetch_frost_photos(target, url=wheel.as_uri(), progress=False)
    assert not (target / "frost3.png").exists()


def test_zoom_blur_is_an_average_of_zooms() -> None:
    # Every zoom keeps a flat image flat, so their mean does too; a centred dot spreads but keeps
    # roughly its mass, the zooms being interpolations.
    flat = np.full((1, 32, 32, 1), 140, dtype=np.uint8)
    assert np.abs(corrupt(flat, "zoom_blur", 5).astype(int) - 140).max() <= 1
    dot = np.zeros((1, 32, 32, 1), dtype=np.uint8)
    dot[0, 15:17, 15:17] = 255
    out = corrupt(dot, "zoom_blur", 1)
    assert out[0, 15, 15, 0] < 255 and (out > 0).sum() > 4
    assert math.isclose(out.sum(), 4 * 255, rel_tol=0.1)
