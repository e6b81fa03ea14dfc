"""Digital corruptions: elastic transform, pixelate and JPEG compression.

Pixelate and JPEG go image by image through PIL, whose fixed-point resampling and libjpeg codec
are what the reference used; the elastic transform's affine warp is OpenCV's, per image, and its
displacement resampling is vectorised over the batch.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image
from scipy import ndimage

from selrob.corruptions.common import from_unit, to_unit
from selrob.corruptions.resample import bilinear_sample


def _through_pil(images: np.ndarray, transform: Callable[[Image.Image], Image.Image]) -> np.ndarray:
    """Apply a PIL transform to each image (one-channel images as PIL mode ``L``)."""
    out = np.empty_like(images)
    for i, image in enumerate(images):
        pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        out[i] = np.asarray(transform(pil)).reshape(image.shape)
    return out


def pixelate(images: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """PIL BOX downsampling to ``int(size * factor)`` pixels, then BOX upsampling back. Deterministic."""
    height, width = images.shape[1:3]
    small = (int(width * factor), int(height * factor))
    return _through_pil(images, lambda pil: pil.resize(small, Image.BOX).resize((width, height), Image.BOX))


def _jpeg_round_trip(pil: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    pil.save(buffer, "JPEG", quality=quality)
    return Image.open(buffer)


def jpeg_compression(images: np.ndarray, quality: float, rng: np.random.Generator) -> np.ndarray:
    """Encode with PIL's JPEG at ``quality`` (PIL defaults otherwise) and decode. Deterministic."""
    return _through_pil(images, lambda pil: _jpeg_round_trip(pil, int(quality)))


def _affine_points(size: int) -> np.ndarray:
    """The reference's three anchor points: centre +- a third of the size."""
    centre, third = np.float32(size // 2), np.float32(size // 3)
    return np.array([[centre + third, centre + third], [centre + third, centre - third], [centre - third, centre - third]], dtype=np.float32)


def elastic_pixels(params: tuple[float, ...], size: int) -> tuple[float, float, float]:
    """(alpha, sigma, affine) in pixels: the fractions ``params[:3]`` times ``params[3]`` if given,
    else times the image ``size``.

    The ImageNet script multiplies by 244 where it meant 224 (its own comment says so), and
    ImageNet-C was made that way; its table gives 244 as a fourth entry so that the products are the
    script's own floats (``2 * 244`` is 488.0, ``(2 * 244 / 224) * 224`` is not).
    """
    base = params[3] if len(params) > 3 else size
    alpha, sigma, affine = (value * base for value in params[:3])
    return alpha, sigma, affine


def elastic_transform(images: np.ndarray, params: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    """Random affine warp, then a smooth random displacement (``params`` = alpha, sigma, affine, each
    a fraction of the image size or of an optional fourth entry; see :func:`elastic_pixels`).

    As the reference: the three anchor points move by U(-affine, affine) pixels, and OpenCV's
    ``warpAffine`` (bilinear, reflect-101 borders) maps them; then per-pixel displacements are
    uniform noise in [-1, 1] smoothed by a Gaussian (sigma, reflect borders, 3-sigma kernel) and
    scaled by alpha, and the image is resampled bilinearly with reflect borders.
    """
    x = to_unit(images).astype(np.float32)
    n, size, width, channels = x.shape
    alpha, sigma, affine = elastic_pixels(params, size)
    anchors = _affine_points(size)
    moves = rng.uniform(-affine, affine, size=(n, 3, 2)).astype(np.float32)
    warped = np.empty_like(x)
    for i in range(n):
        matrix = cv2.getAffineTransform(anchors, anchors + moves[i])
        out = cv2.warpAffine(x[i], matrix, (width, size), borderMode=cv2.BORDER_REFLECT_101)
        warped[i] = out.reshape(size, width, channels)
    noise = rng.uniform(-1, 1, size=(2, n, size, width))
    dx, dy = (
        (ndimage.gaussian_filter(field, (0, sigma, sigma), mode="reflect", truncate=3.0) * alpha).astype(np.float32)
        for field in noise
    )
    rows, cols = np.meshgrid(np.arange(size), np.arange(width), indexing="ij")
    return from_unit(bilinear_sample(warped, rows + dy, cols + dx))
