"""The 224-pixel ImageNet-C table (``make_imagenet_c.py``): entries copied by hand, every corruption
at 224 pixels, and known answers for the parts that only this size exercises (radius > 8 defocus,
mixed zoom steps, separable zooms, 256-pixel fog maps, unscaled frost photographs)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy import ndimage

from selrob.corruptions import CORRUPTIONS, SEVERITIES, corrupt, weather
from selrob.corruptions.blur import defocus_kernel, zoom_factors
from selrob.corruptions.digital import elastic_pixels
from selrob.corruptions.frost_photos import current_folder, frost_photos
from selrob.corruptions.resample import apply_pixel_operator, separable_zoom, zoom_operator

TABLE = SEVERITIES["imagenet"]
DETERMINISTIC = {"defocus_blur", "zoom_blur", "brightness", "contrast", "pixelate", "jpeg_compression",
                 "gaussian_blur", "saturate"}


def images(n: int = 2, size: int = 224, seed: int = 0) -> np.ndarray:
    """Smooth random images (blurred noise, as photographs are smooth), uint8 (n, size, size, 3)."""
    noise = np.random.default_rng(seed).uniform(0, 255, size=(n, size, size, 3))
    return ndimage.gaussian_filter(noise, (0, 3, 3, 0)).clip(0, 255).astype(np.uint8) // 2 + 60


def test_table_entries_copied_by_hand() -> None:
    assert set(TABLE) == set(CORRUPTIONS) and all(len(row) == 5 for row in TABLE.values())
    assert TABLE["gaussian_noise"][4] == 0.38
    assert TABLE["shot_noise"] == (60, 25, 12, 5, 3)
    assert TABLE["glass_blur"][2] == (1, 2, 3)
    assert TABLE["defocus_blur"][4] == (10, 0.5)
    assert TABLE["motion_blur"][4] == (20, 15)
    assert TABLE["snow"][2] == (0.55, 0.3, 4, 0.9, 12, 8, 0.7)
    assert TABLE["fog"][4] == (3, 1.4)
    assert TABLE["jpeg_compression"] == (25, 18, 15, 10, 7)
    assert TABLE["spatter"][3] == (0.65, 0.3, 1, 0.65, 1.5, 1)
    assert TABLE["saturate"][4] == (20, 0.2)
    assert [row[2] for row in TABLE["frost"]] == [1.0] * 5  # photographs cropped unscaled
    assert TABLE["frost"][4][:2] == (0.6, 0.75)


def test_zoom_factors_follow_the_scripts_aranges() -> None:
    scripts = [np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01), np.arange(1, 1.21, 0.02),
               np.arange(1, 1.26, 0.02), np.arange(1, 1.31, 0.03)]
    for params, expected in zip(TABLE["zoom_blur"], scripts):
        np.testing.assert_array_equal(zoom_factors(params), expected)
    assert len(zoom_factors(TABLE["zoom_blur"][4])) == 11
    # the 32- and 64-pixel tables keep their single step of 0.01
    for table in ("cifar10", "tinyimagenet"):
        assert [len(zoom_factors(p)) for p in SEVERITIES[table]["zoom_blur"]] == [7, 12, 16, 21, 26]


def test_elastic_pixels_are_the_scripts_244_based_values() -> None:
    alpha, sigma, affine = elastic_pixels(TABLE["elastic_transform"][0], 224)
    assert alpha == 488
    assert sigma == pytest.approx(244 * 0.7) and affine == pytest.approx(244 * 0.1)
    assert elastic_pixels(TABLE["elastic_transform"][4], 224)[0] == pytest.approx(244 * 0.12)
    # the smaller tables stay fractions of the image size
    assert elastic_pixels(SEVERITIES["tinyimagenet"]["elastic_transform"][1], 64) == pytest.approx((3.2, 19.2, 3.84))


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_every_corruption_at_224_pixels(name: str) -> None:
    batch = images()
    for severity in (1, 5):
        out = corrupt(batch, name, severity, "imagenet", seed=3)
        assert out.shape == (2, 224, 224, 3) and out.dtype == np.uint8
        assert np.array_equal(out, corrupt(batch, name, severity, "imagenet", seed=3))
    other_seed = corrupt(batch, name, 5, "imagenet", seed=4)
    assert np.array_equal(corrupt(batch, name, 5, "imagenet", seed=3), other_seed) == (name in DETERMINISTIC)


def test_contrast_keeps_a_flat_image_and_brightness_adds_the_table_shift() -> None:
    flat = np.full((1, 224, 224, 3), (90, 140, 200), dtype=np.uint8)
    for severity in range(1, 6):
        out = corrupt(flat, "contrast", severity, "imagenet").astype(int)
        # x / 255 * 255 may land a hair below x, which truncation turns into x - 1, as in the script
        assert np.abs(out - flat).max() <= 1 and (out == out[0, 0, 0]).all()
    batch = images(n=1)
    value = batch.max(axis=-1) / 255.0
    for severity, shift in zip(range(1, 6), TABLE["brightness"]):
        out_value = corrupt(batch, "brightness", severity, "imagenet").max(axis=-1).astype(int)
        expected = (np.minimum(value + shift, 1.0) * 255).astype(int)
        assert np.abs(out_value - expected).max() <= 1  # truncation after float rounding


def test_defocus_kernel_beyond_radius_8_is_the_scripts() -> None:
    # radius 10: grid -10..10 and a 5x5 anti-alias blur, as the script's disk() with OpenCV
    grid = np.arange(-10, 11)
    xx, yy = np.meshgrid(grid, grid)
    disk = (xx**2 + yy**2 <= 100).astype(np.float32)
    expected = cv2.GaussianBlur(disk / disk.sum(), ksize=(5, 5), sigmaX=0.5)
    kernel = defocus_kernel(10, 0.5)
    assert kernel.shape == (21, 21)
    np.testing.assert_allclose(kernel, expected, atol=1e-6)


def test_separable_zoom_matches_the_dense_operator_and_scipy() -> None:
    small = np.random.default_rng(1).uniform(size=(2, 32, 32, 3))
    dense = apply_pixel_operator(small, zoom_operator(32, 32, np.array([1.3])))
    np.testing.assert_allclose(separable_zoom(small, 1.3), dense, atol=1e-12)
    image = np.random.default_rng(2).uniform(size=(224, 224, 1))
    crop = int(np.ceil(224 / 1.3))
    top = (224 - crop) // 2
    zoomed = ndimage.zoom(image[top : top + crop, top : top + crop], (1.3, 1.3, 1), order=1)
    trim = (zoomed.shape[0] - 224) // 2
    np.testing.assert_allclose(separable_zoom(image[None], 1.3)[0], zoomed[trim : trim + 224, trim : trim + 224], atol=1e-12)


def test_zoom_blur_at_224_is_the_scripts_mean_of_scipy_zooms() -> None:
    batch = images(n=1)
    x = (batch[0] / 255.0).astype(np.float32)
    zooms = np.zeros_like(x)
    for factor in np.arange(1, 1.31, 0.03):
        crop = int(np.ceil(224 / factor))
        top = (224 - crop) // 2
        zoomed = ndimage.zoom(x[top : top + crop, top : top + crop], (factor, factor, 1), order=1)
        trim = (zoomed.shape[0] - 224) // 2
        zooms += zoomed[trim : trim + 224, trim : trim + 224]
    expected = (np.clip((x + zooms) / 12, 0, 1) * 255).astype(np.uint8)
    out = corrupt(batch, "zoom_blur", 5, "imagenet")[0]
    assert np.abs(out.astype(int) - expected).max() <= 1 and (out == expected).mean() > 0.99


def test_fog_draws_256_pixel_maps_and_frost_crops_unscaled_photographs(monkeypatch: pytest.MonkeyPatch) -> None:
    sides = []
    original = weather.plasma_fractal

    def recording(n: int, size: int, decay: float, rng: np.random.Generator) -> np.ndarray:
        sides.append(size)
        return original(n, size, decay, rng)

    monkeypatch.setattr(weather, "plasma_fractal", recording)
    corrupt(images(n=1), "fog", 3, "imagenet")
    assert sides == [256]
    for index in range(5):
        assert weather._scaled_frost(index, 1.0, current_folder()).shape == frost_photos(current_folder())[index].shape
