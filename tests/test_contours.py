"""B&W and contour images (second paper, Table 3f): binarise, trace with potrace, rasterise."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

from selrob.distortions.contours import binarise, bw_contours, rasterise_svg, trace_svg
from selrob.errors import SelrobError

SIZE, RADIUS = 32, 10.0


def _distance(size: int = SIZE, centre: float = SIZE / 2) -> np.ndarray:
    """Distance of each pixel centre from ``(centre, centre)``."""
    y, x = np.mgrid[:size, :size] + 0.5
    return np.hypot(x - centre, y - centre)


def _as_batch(black: np.ndarray) -> np.ndarray:
    """A bool (H, W) drawing -> a uint8 (1, H, W, 1) image, black on white."""
    return np.where(black, 0, 255).astype(np.uint8)[None, :, :, None]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


# Off-centre as well as centred, so that the circle's pixels are not all symmetric.
@pytest.mark.parametrize("centre", [SIZE / 2, 15.3])
def test_outline_of_a_disk_is_a_thin_ring_and_its_centre_stays_white(centre: float) -> None:
    distance = _distance(centre=centre)
    out = bw_contours(_as_batch(distance <= RADIUS), style="outline")[0, :, :, 0]
    dark = out < 128
    # Measured 0.58 (centred) and 0.62 (off-centre) against a 1.5-px-wide ring: a 1-px line
    # thresholded at half grey is about one pixel wide, so wider rings only dilute the IoU.
    assert _iou(dark, np.abs(distance - RADIUS) <= 0.75) > 0.45
    assert (np.abs(distance[dark] - RADIUS) <= 1.5).all()  # no dark pixel off the circle
    assert out[int(centre), int(centre)] == 255
    assert (out[distance < RADIUS - 2] == 255).all()  # the inside is not filled


def test_line_width_widens_the_ring() -> None:
    distance = _distance(centre=15.3)
    out = bw_contours(_as_batch(distance <= RADIUS), style="outline", line_width=3.0)[0, :, :, 0]
    dark = out < 128
    # A 3-px line covers the annulus RADIUS +- 1.5; measured IoU 0.82 (0.94 when centred).
    assert _iou(dark, np.abs(distance - RADIUS) <= 1.5) > 0.7
    thin = bw_contours(_as_batch(distance <= RADIUS), style="outline")[0, :, :, 0] < 128
    assert dark.sum() > 2 * thin.sum()


def test_filled_disk_is_the_disk() -> None:
    disk = _distance() <= RADIUS
    out = bw_contours(_as_batch(disk), style="filled")[0, :, :, 0]
    assert _iou(out < 128, disk) > 0.9  # measured 0.968
    assert out[SIZE // 2, SIZE // 2] == 0


def test_larger_disk_in_both_styles() -> None:
    distance = _distance(128, 64.0)
    images = _as_batch(distance <= 40)
    assert _iou(bw_contours(images, "filled")[0, :, :, 0] < 128, distance <= 40) > 0.95  # measured 0.988
    outline = bw_contours(images, "outline")[0, :, :, 0]
    assert _iou(outline < 128, np.abs(distance - 40) <= 0.75) > 0.45  # measured 0.62
    assert outline[64, 64] == 255


def test_orientation_is_kept() -> None:
    # potracer's y axis runs down the rows, like SVG's: a block at the top left stays there.
    block = np.zeros((SIZE, SIZE), dtype=bool)
    block[2:14, 3:12] = True
    out = bw_contours(_as_batch(block), style="filled")[0, :, :, 0]
    assert _iou(out < 128, block) > 0.85
    assert (out[16:, :] == 255).all() and (out[:, 16:] == 255).all()


def test_holes_stay_white_when_filled() -> None:
    distance = _distance()
    ring = (distance <= 12) & (distance >= 6)
    out = bw_contours(_as_batch(ring), style="filled")[0, :, :, 0]
    assert out[SIZE // 2, SIZE // 2] == 255
    assert _iou(out < 128, ring) > 0.85


@pytest.mark.parametrize("style", ["filled", "outline"])
def test_all_white_stays_white(style: str) -> None:
    images = np.full((2, 16, 16, 3), 255, dtype=np.uint8)
    assert (bw_contours(images, style) == 255).all()
    svg = trace_svg(np.zeros((16, 16), dtype=bool), style)
    path = ElementTree.fromstring(svg).find("{http://www.w3.org/2000/svg}path")
    assert path is not None and path.get("d") == ""


def test_all_black_traces_the_image_frame() -> None:
    # potrace traces an all-black bitmap as one rectangle along the image's edges: filled, it is all
    # black; outlined, half of the line falls outside the image and the border pixels are mid-grey.
    images = np.zeros((1, 16, 16, 1), dtype=np.uint8)
    assert (bw_contours(images, "filled") == 0).all()
    outline = bw_contours(images, "outline")[0, :, :, 0]
    assert (outline[1:-1, 1:-1] == 255).all()
    border = np.concatenate([outline[0], outline[-1], outline[:, 0], outline[:, -1]])
    assert (border > 30).all() and (border < 200).all()  # measured 59 (corners) to 136


def test_svg_document() -> None:
    black = _distance() <= RADIUS
    root = ElementTree.fromstring(trace_svg(black, "outline", line_width=2.5))
    assert (root.get("width"), root.get("height"), root.get("viewBox")) == ("32", "32", "0 0 32 32")
    paths = root.findall("{http://www.w3.org/2000/svg}path")
    assert len(paths) == 1
    data = paths[0].get("d")
    assert data.startswith("M ") and " C " in data and data.endswith("Z")
    assert (paths[0].get("fill"), paths[0].get("stroke-width")) == ("none", "2.5")
    filled = ElementTree.fromstring(trace_svg(black)).find("{http://www.w3.org/2000/svg}path")
    assert (filled.get("fill"), filled.get("fill-rule")) == ("black", "evenodd")


def test_corner_segments_become_lines() -> None:
    black = np.zeros((32, 32), dtype=bool)
    black[4:28, 4:28] = True  # big enough that potrace keeps the corners sharp
    data = ElementTree.fromstring(trace_svg(black)).find("{http://www.w3.org/2000/svg}path").get("d")
    assert " L " in data
    assert (rasterise_svg(trace_svg(black), 32, 32) < 128).sum() == black.sum()


def test_rasterise_composites_on_white() -> None:
    empty = '<svg xmlns="http://www.w3.org/2000/svg" width="5" height="4" viewBox="0 0 5 4"/>'
    grey = rasterise_svg(empty, 4, 5)
    assert grey.shape == (4, 5) and grey.dtype == np.uint8 and (grey == 255).all()


def test_binarise_known_answers() -> None:
    # The default black level is half of 255 = 127.5: 127 is black, 128 white.
    grey = np.array([0, 127, 128, 255], dtype=np.uint8).reshape(1, 1, 4, 1)
    assert binarise(grey).tolist() == [[[True, True, False, False]]]
    # ITU-R 601 luma: pure red 76.2 and blue 29.1 are black, green 149.7 white.
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], dtype=np.uint8).reshape(1, 1, 3, 3)
    assert binarise(colours).tolist() == [[[True, False, True]]]
    # At a level of 0.25 (63.75): 63 black, 64 white.
    assert binarise(np.array([63, 64], dtype=np.uint8).reshape(1, 1, 2, 1), 0.25).tolist() == [[[True, False]]]


def test_shape_dtype_determinism_and_one_channel_input() -> None:
    rng = np.random.default_rng(0)
    distance = _distance()
    grey = np.where(distance <= RADIUS, 40, 220).astype(np.uint8)
    noisy = np.clip(grey + rng.integers(-30, 30, size=grey.shape), 0, 255).astype(np.uint8)
    images = np.stack([grey, noisy, 255 - grey])[..., None]
    out = bw_contours(images)
    assert out.shape == (3, SIZE, SIZE, 3) and out.dtype == np.uint8
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 0] == out[..., 2]).all()
    assert np.array_equal(out, bw_contours(images.copy()))
    # Grey RGB, same answer: its luma is within 1e-13 of the grey level, a whole number, and the black
    # level 127.5 lies 0.5 from every whole number, so both binarise alike and trace the same bitmaps.
    assert np.array_equal(out, bw_contours(np.repeat(images, 3, axis=-1)))
    assert np.array_equal(out[1:2], bw_contours(images[1:2]))  # each image on its own


@pytest.mark.parametrize("call, value", [
    (lambda: bw_contours(np.zeros((1, 8, 8, 3), np.uint8), style="sketch"), "'sketch'"),
    (lambda: trace_svg(np.zeros((8, 8), bool), style="Filled"), "'Filled'"),
    (lambda: bw_contours(np.zeros((1, 8, 8, 3), np.float32)), "float32"),
    (lambda: bw_contours(np.zeros((8, 8, 3), np.uint8)), "(8, 8, 3)"),
    (lambda: binarise(np.zeros((1, 8, 8, 2), np.uint8)), "(1, 8, 8, 2)"),
    (lambda: binarise(np.zeros((1, 8, 8, 1), np.uint8), threshold=1.5), "1.5"),
    (lambda: bw_contours(np.zeros((1, 8, 8, 1), np.uint8), line_width=0.0), "0.0"),
    (lambda: trace_svg(np.zeros((8, 8), np.uint8)), "uint8"),
])
def test_bad_arguments_raise_selrob_error(call, value: str) -> None:
    with pytest.raises(SelrobError) as caught:
        call()
    message = str(caught.value)
    assert value in message and "\n" not in message
