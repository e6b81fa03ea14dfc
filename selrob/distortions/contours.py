"""B&W and contour images (second paper, Chen, Agarwal & Nguyen, Table 3f, section 3.2.2).

The paper makes its B&W images with three commands::

    convert image.jpeg image.bmp            # ImageMagick
    potrace --svg image.bmp -o image.svg    # binarise at black level 0.5, trace, write an SVG path
    rsvg-convert image.svg > image.jpeg     # rasterise the SVG

potrace binarises its input at a black level of 0.5 (pixels darker than half-grey are black),
decomposes the black regions' boundaries into closed paths, fits them with polygons and then Bezier
curves, and writes the curves as one filled SVG path. The result keeps an image's dark shapes and
drops its texture, colour and shading. This module runs the same pipeline in process:
:func:`binarise` (the black level), :func:`trace_svg` (potrace), :func:`rasterise_svg`
(rsvg-convert) and :func:`bw_contours` (all three on a batch).

Why these packages: ``potracer`` is a pure-Python port of potrace 1.16 (module ``potrace``) and
``cairosvg`` renders SVG with cairo, the library librsvg draws with; both install with pip. The
Debian packages ``potrace`` and ``librsvg2-bin`` would need root, and shelling out to programs
per image would be slower than tracing in process.
"""

from __future__ import annotations

import io

import cairosvg
import numpy as np
import potrace
from PIL import Image

from selrob.corruptions.common import LUMA
from selrob.errors import SelrobError

STYLES = ("filled", "outline")

# potracer's conventions, checked by experiment (potracer 0.0.4):
# * ``potrace.Bitmap(bool_array)`` inverts its input: False is black (traced), True is white. Given
#   True = black it traces the white regions instead, with an extra curve around the whole image.
#   So we pass ``~black``. It pads the right and bottom edges with white (and reads index -1 there
#   for the top and left ones), so shapes touching the border close along the image's edge; it adds
#   no border curve of its own. An all-black bitmap gives one curve, the image's rectangle.
# * Points are pixel-corner coordinates with x = column and y = row, row 0 at the top: the same
#   orientation as SVG's user space, so no flip is needed (potrace's own SVG backend flips because
#   C potrace stores bitmaps bottom row first).
# * Holes come back as separate curves of the opposite orientation; ``fill-rule="evenodd"`` fills
#   the regions between them as potrace's nested paths do.


def _check_images(images: np.ndarray) -> None:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 \
            or images.shape[-1] not in (1, 3):
        got = f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray) else type(images).__name__
        raise SelrobError(f"expected a uint8 (N, H, W, 1 or 3) batch of images, got {got}")


def _check_threshold(threshold: float) -> None:
    if not 0.0 <= threshold <= 1.0:  # also rejects NaN
        raise SelrobError(f"threshold {threshold!r} is not a black level in [0, 1]")


def _check_style(style: str) -> None:
    if style not in STYLES:
        raise SelrobError(f"unknown contour style {style!r}; expected one of {', '.join(STYLES)}")


def _check_line_width(line_width: float) -> None:
    if not line_width > 0.0 or not np.isfinite(line_width):
        raise SelrobError(f"line_width {line_width!r} is not a positive number of pixels")


def binarise(images: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """uint8 (N, H, W, C) images, C in {1, 3} -> bool (N, H, W), True where black.

    A pixel is black when its luma (ITU-R 601 weights, :data:`selrob.corruptions.common.LUMA`) is
    below ``threshold * 255``; potrace's black level is 0.5. (potrace itself reads colour BMPs by
    the unweighted mean of R, G and B and counts a mean equal to the level as black; the two agree
    on grey images away from the level itself.)
    """
    _check_images(images)
    _check_threshold(threshold)
    luma = images[..., 0].astype(np.float64) if images.shape[-1] == 1 else images.astype(np.float64) @ LUMA
    return luma < threshold * 255.0


def _number(value: float) -> str:
    # Fixed precision keeps the SVG text (and so the raster) identical across runs and platforms.
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _point(point: potrace._Point) -> str:
    return f"{_number(point.x)} {_number(point.y)}"


def trace_svg(black: np.ndarray, style: str = "filled", line_width: float = 1.0, *, turdsize: int = 2,
              turnpolicy: int = potrace.POTRACE_TURNPOLICY_MINORITY, alphamax: float = 1.0,
              opticurve: bool = True, opttolerance: float = 0.2) -> str:
    """Trace one bool (H, W) bitmap (True = black) with potrace and return an SVG document.

    The SVG is W x H pixels with a pixel viewBox, and one ``<path>`` holds every traced curve (``M``,
    then ``C`` for Bezier and ``L`` for corner segments, ``Z``); an all-white bitmap gives an empty
    path. ``style="filled"`` fills it black (even-odd, so holes stay white), potrace's own SVG and
    the paper's B&W image; ``style="outline"`` strokes it ``line_width`` pixels wide with no fill,
    a contour image. The keyword parameters are potrace's, with its defaults (``-t 2``, ``-z
    minority``, ``-a 1``, curve optimisation on, ``-O 0.2``).

    The curves run along pixel edges, so where an edge is axis-aligned a 1-pixel line covers half of
    two pixels and renders as two mid-grey rows; ``line_width=2`` makes both fully dark.
    """
    _check_style(style)
    _check_line_width(line_width)
    if not isinstance(black, np.ndarray) or black.dtype != np.bool_ or black.ndim != 2:
        got = f"{black.dtype} {black.shape}" if isinstance(black, np.ndarray) else type(black).__name__
        raise SelrobError(f"expected one bool (H, W) bitmap, got {got}")
    height, width = black.shape
    commands = []
    if black.any():  # nothing to trace otherwise; skip potracer's set-up
        path = potrace.Bitmap(~black).trace(turdsize=turdsize, turnpolicy=turnpolicy, alphamax=alphamax,
                                            opticurve=opticurve, opttolerance=opttolerance)
        for curve in path:
            commands.append(f"M {_point(curve.start_point)}")
            for segment in curve.segments:
                if segment.is_corner:
                    commands.append(f"L {_point(segment.c)} L {_point(segment.end_point)}")
                else:
                    commands.append(f"C {_point(segment.c1)} {_point(segment.c2)} {_point(segment.end_point)}")
            commands.append("Z")
    if style == "filled":
        paint = 'fill="black" fill-rule="evenodd" stroke="none"'
    else:
        paint = f'fill="none" stroke="black" stroke-width="{_number(line_width)}" stroke-linejoin="round"'
    return (f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">\n'
            f'<path d="{" ".join(commands)}" {paint}/>\n</svg>\n')


def rasterise_svg(svg: str, height: int, width: int) -> np.ndarray:
    """Render an SVG document to a uint8 (H, W) grey image with cairosvg, on a white background.

    cairo leaves unpainted pixels transparent (RGBA 0, 0, 0, 0), which reads as black if the alpha
    is dropped, so the PNG is composited over white before taking its luma.
    """
    if height < 1 or width < 1:
        raise SelrobError(f"cannot rasterise to {height} x {width} pixels; both sides must be at least 1")
    png = cairosvg.svg2png(bytestring=svg.encode("utf-8"), output_width=width, output_height=height)
    rgba = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"), dtype=np.float64)
    alpha = rgba[..., 3:] / 255.0
    over_white = rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)
    return np.clip(np.rint(over_white @ LUMA), 0, 255).astype(np.uint8)


def bw_contours(images: np.ndarray, style: str = "outline", threshold: float = 0.5,
                line_width: float = 1.0) -> np.ndarray:
    """The B&W pipeline of Table 3f on a uint8 (N, H, W, C) batch -> uint8 (N, H, W, 3).

    The paper runs ``convert image.jpeg image.bmp``, ``potrace --svg image.bmp -o image.svg`` and
    ``rsvg-convert image.svg > image.jpeg``; here each image is binarised at ``threshold``
    (potrace's black level, 0.5), traced with potrace's defaults and rasterised at its own size.
    The grey result is repeated to RGB so that models taking colour images can read it.
    Deterministic: no randomness anywhere (potrace's "random" turn policy is not used).

    Defaults that differ from the paper: the paper's images are ``style="filled"`` (black regions
    on white); our default, ``"outline"``, strokes the same curves ``line_width`` pixels wide with no
    fill, the images of the column "Contour". Binarisation uses ITU-R 601 luma rather than potrace's
    channel mean (see :func:`binarise`). We rasterise at the input's pixel size, on white; with the
    commands as given, potrace sizes its SVG in points and rsvg-convert renders points at its own
    dpi, so the paper's files need not keep the input's size (unless resized afterwards), and
    rsvg-convert writes a PNG with a transparent background whatever the file's name.
    """
    _check_images(images)
    _check_style(style)
    _check_threshold(threshold)
    _check_line_width(line_width)
    n, height, width = images.shape[:3]
    out = np.empty((n, height, width, 3), dtype=np.uint8)
    for index, black in enumerate(binarise(images, threshold)):
        grey = rasterise_svg(trace_svg(black, style, line_width), height, width)
        out[index] = grey[..., None]
    return out
