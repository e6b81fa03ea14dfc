"""The embedded shape-texture world of the second paper's study: one textured, coloured shape on a
plain background per image, generated here, deterministic by seed.

It resembles Hermann & Lampinen's Trifeature dataset (2020; 10 shapes x 10 textures x 10
colours), at 32 x 32 pixels by default so that standard and robust models train on a laptop
(larger sizes work the same way; texture periods scale with the size). The class is the shape.
In training data every class comes with its own texture, so shape and texture both predict the
label, as object shape and surface texture do on ImageNet; the shape's and the background's
colours are drawn independently of the class (a third, non-predictive feature). Position, scale
(0.5-0.8 of the image) and rotation ([-45, 45) degrees) are random, and so is the phase of the
texture. Two textures no class uses in training are kept for "stylized" images.

Every image keeps its ground truth per pixel: the shape's mask, its texture's binary pattern and
ids of its texture and colours. :func:`render` draws an image from its :class:`ImageSpec`, so
derived images (another texture or colour, a silhouette) are the same image with one factor
changed. :func:`cue_conflict_specs` builds the cue-conflict set (the shape of class i with the
texture of class j != i, every ordered pair equally often) and :func:`control_specs` its
non-conflict controls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from selrob.data.base import DatasetInfo, ImageSet
from selrob.data.probe import Concepts, ImageLabels
from selrob.errors import SelrobError

SHAPES: tuple[str, ...] = ("triangle", "square", "plus", "circle", "tee", "rhombus", "pentagon", "star",
                           "fivesquare", "trapezoid")
#: The textures of classes 0..9 in training (class i wears TEXTURES[i]), then the held-out ones.
TEXTURES: tuple[str, ...] = ("stripes", "grid", "dots", "checker", "zigzag", "rings", "crosshatch", "waves",
                             "diagonal", "bricks", "blotches", "hexdots")
CLASS_TEXTURES: tuple[str, ...] = TEXTURES[:len(SHAPES)]
HELD_OUT_TEXTURES: tuple[str, ...] = TEXTURES[len(SHAPES):]
#: RGB colours shapes and backgrounds are drawn from (a shape never has its background's colour).
COLOURS: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (250, 250, 250), (128, 128, 128),
)
#: Pattern-off pixels of a shape are its colour times this, so the texture shows in every colour.
SHADE = 0.45
DEFAULT_SIZE = 32
SPLITS = {"train": 0, "val": 1, "test": 2, "cue-conflict": 3, "control": 4, "stylized": 5, "probe": 6}
#: Names of :data:`COLOURS`, the colour concepts of the probe set.
COLOUR_NAMES: tuple[str, ...] = ("red", "green", "yellow", "blue", "orange", "purple", "cyan", "magenta", "white",
                                 "grey")


@dataclass(frozen=True)
class ImageSpec:
    """Everything that determines one image: its factors and its random geometry."""

    shape: int
    texture: int
    shape_colour: int
    background_colour: int
    rotation: float  # degrees
    scale: float  # the shape's extent as a fraction of the image side
    centre: tuple[float, float]  # (x, y) in [0, 1] image coordinates
    phase: tuple[float, float]  # texture phase, in periods
    size: int = DEFAULT_SIZE


@dataclass(frozen=True)
class ShapeTextureSet:
    """Images (uint8, N x 3 x H x W), labels (the shape), and the ground truth per image and pixel."""

    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray  # bool, N x H x W: the shape
    patterns: np.ndarray  # bool, N x H x W: the texture's pattern (inside and outside the shape)
    specs: tuple[ImageSpec, ...]

    @property
    def textures(self) -> np.ndarray:
        return np.array([spec.texture for spec in self.specs])

    @property
    def shape_colours(self) -> np.ndarray:
        return np.array([spec.shape_colour for spec in self.specs])

    @property
    def background_colours(self) -> np.ndarray:
        return np.array([spec.background_colour for spec in self.specs])


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres in [0, 1] image coordinates (x to the right, y down)."""
    centres = (np.arange(size) + 0.5) / size
    return np.meshgrid(centres, centres)


def _polygon(points: Sequence[tuple[float, float]], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon test, vectorised over the points (x, y)."""
    inside = np.zeros(x.shape, dtype=bool)
    vertices = list(points)
    for (x1, y1), (x2, y2) in zip(vertices, vertices[1:] + vertices[:1]):
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < at)
    return inside


def _regular(sides: int, radius: float = 1.0, turn: float = -np.pi / 2) -> list[tuple[float, float]]:
    angles = turn + 2 * np.pi * np.arange(sides) / sides
    return [(radius * np.cos(a), radius * np.sin(a)) for a in angles]


def _star() -> list[tuple[float, float]]:
    outer, inner = _regular(5), _regular(5, 0.42, -np.pi / 2 + np.pi / 5)
    return [point for pair in zip(outer, inner) for point in pair]


def shape_mask(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Membership of shape ``shape`` at local coordinates (u, v), the shape spanning [-1, 1]."""
    name = SHAPES[shape]
    if name == "circle":
        return u * u + v * v <= 1
    if name == "square":
        return np.maximum(abs(u), abs(v)) <= 0.85
    if name == "rhombus":  # elongated, so that no rotation makes it a square
        return abs(u) / 0.6 + abs(v) <= 1
    if name == "plus":
        return ((abs(u) <= 0.3) & (abs(v) <= 1)) | ((abs(v) <= 0.3) & (abs(u) <= 1))
    if name == "tee":
        return ((abs(u) <= 1) & (v >= -1) & (v <= -0.45)) | ((abs(u) <= 0.28) & (v >= -1) & (v <= 1))
    if name == "fivesquare":
        centres = ((0.0, 0.0), (-0.62, -0.62), (0.62, -0.62), (-0.62, 0.62), (0.62, 0.62))
        return np.any([np.maximum(abs(u - cx), abs(v - cy)) <= 0.3 for cx, cy in centres], axis=0)
    polygons = {"triangle": _regular(3, 1.0, -np.pi / 2), "pentagon": _regular(5), "star": _star(),
                "trapezoid": [(-1.0, 0.6), (1.0, 0.6), (0.5, -0.6), (-0.5, -0.6)]}
    return _polygon(polygons[name], u, v)


def texture_pattern(texture: int, x: np.ndarray, y: np.ndarray, period: float,
                    phase: tuple[float, float]) -> np.ndarray:
    """The binary pattern of texture ``texture`` at image coordinates (x, y) (in pixels)."""
    name = TEXTURES[texture]
    a, b = x / period + phase[0], y / period + phase[1]
    fa, fb = a % 1, b % 1
    if name == "stripes":
        return fa < 0.5
    if name == "grid":
        return (fa < 0.3) | (fb < 0.3)
    if name == "dots":
        return (fa - 0.5) ** 2 + (fb - 0.5) ** 2 < 0.09
    if name == "checker":
        return (np.floor(a) + np.floor(b)) % 2 == 0
    if name == "zigzag":
        return (a + abs(fb - 0.5)) % 1 < 0.5
    if name == "rings":
        return np.hypot(fa - 0.5, fb - 0.5) % 0.5 < 0.2
    if name == "crosshatch":
        return ((a + b) % 1 < 0.3) | ((a - b) % 1 < 0.3)
    if name == "waves":
        return (b + 0.25 * np.sin(2 * np.pi * a)) % 1 < 0.5
    if name == "diagonal":
        return (a + b) % 1 < 0.5
    if name == "bricks":
        offset = 0.5 * (np.floor(b) % 2)
        return (fb < 0.25) | ((a + offset) % 1 < 0.2)
    if name == "blotches":
        return np.sin(2.1 * a + 1.3 * np.sin(1.7 * b)) * np.cos(1.9 * b + 1.1 * np.sin(1.3 * a)) > 0.1
    if name == "hexdots":
        shifted = (a + 0.5 * (np.floor(b) % 2)) % 1
        return (shifted - 0.5) ** 2 + (fb - 0.5) ** 2 < 0.05
    raise SelrobError(f"unknown texture {texture}")


def render(spec: ImageSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(image, mask, pattern)`` of ``spec``: uint8 3 x H x W, and two H x W bool maps."""
    x, y = _grid(spec.size)
    angle = np.deg2rad(spec.rotation)
    dx, dy = x - spec.centre[0], y - spec.centre[1]
    half = spec.scale / 2
    u = (np.cos(angle) * dx + np.sin(angle) * dy) / half
    v = (-np.sin(angle) * dx + np.cos(angle) * dy) / half
    mask = shape_mask(spec.shape, u, v)
    period = max(3.0, spec.size / 8)
    pattern = texture_pattern(spec.texture, x * spec.size, y * spec.size, period, spec.phase)
    shape_colour = np.array(COLOURS[spec.shape_colour], dtype=np.float64)
    background = np.array(COLOURS[spec.background_colour], dtype=np.float64)
    inside = np.where(pattern[..., None], shape_colour, SHADE * shape_colour)
    image = np.where(mask[..., None], inside, background)
    return np.rint(image).astype(np.uint8).transpose(2, 0, 1), mask, pattern


def _random_spec(rng: np.random.Generator, shape: int, texture: int, size: int) -> ImageSpec:
    shape_colour, background = rng.choice(len(COLOURS), size=2, replace=False)
    scale = rng.uniform(0.5, 0.8)
    # Keep the shape's circumscribed circle inside the image.
    low, high = scale / 2 * 1.15, 1 - scale / 2 * 1.15
    centre = (float(rng.uniform(low, high)), float(rng.uniform(low, high)))
    return ImageSpec(shape, texture, int(shape_colour), int(background), float(rng.uniform(-45, 45)), float(scale),
                     centre, (float(rng.uniform(0, 1)), float(rng.uniform(0, 1))), size)


def _rng(seed: int, split: str, index: int) -> np.random.Generator:
    """One generator per image: the same image whatever else is generated with it."""
    return np.random.default_rng(np.random.SeedSequence([seed, SPLITS[split], index]))


def split_specs(split: str, per_class: int, seed: int = 0, size: int = DEFAULT_SIZE) -> list[ImageSpec]:
    """``per_class`` images of every class for ``train``, ``val`` or ``test``: class i wears
    texture i (both cues predict the label), colours and geometry random."""
    if split not in ("train", "val", "test"):
        raise SelrobError(f"unknown split {split!r}; choose train, val or test")
    if per_class < 1 or size < 16:
        raise SelrobError(f"need at least 1 image per class and 16 pixels, got {per_class} and {size}")
    return [_random_spec(_rng(seed, split, i * len(SHAPES) + c), c, c, size)
            for i in range(per_class) for c in range(len(SHAPES))]


def cue_conflict_specs(per_pair: int, seed: int = 0, size: int = DEFAULT_SIZE) -> list[ImageSpec]:
    """The shape of class i with the texture of class j != i, ``per_pair`` images of every
    ordered pair (i, j)."""
    pairs = [(i, j) for i in range(len(SHAPES)) for j in range(len(SHAPES)) if i != j]
    return [_random_spec(_rng(seed, "cue-conflict", k * len(pairs) + p), i, j, size)
            for k in range(per_pair) for p, (i, j) in enumerate(pairs)]


def control_specs(specs: Sequence[ImageSpec]) -> list[ImageSpec]:
    """The non-conflict controls of cue-conflict ``specs``: the same images with the shape's own
    texture."""
    return [replace(spec, texture=spec.shape) for spec in specs]


def build(specs: Sequence[ImageSpec]) -> ShapeTextureSet:
    """Render ``specs`` into a :class:`ShapeTextureSet` (labels are the shapes)."""
    if not specs:
        raise SelrobError("no images to render")
    rendered = [render(spec) for spec in specs]
    return ShapeTextureSet(
        images=np.stack([image for image, _, _ in rendered]),
        labels=np.array([spec.shape for spec in specs], dtype=np.int64),
        masks=np.stack([mask for _, mask, _ in rendered]),
        patterns=np.stack([pattern for _, _, pattern in rendered]),
        specs=tuple(specs),
    )


#: The world's own seed: the images of its pool and test set never change.
WORLD_SEED = 0
POOL_PER_CLASS, TEST_PER_CLASS = 500, 100
INFO = DatasetInfo(
    name="shapes",
    num_classes=len(SHAPES),
    in_channels=3,
    image_size=DEFAULT_SIZE,
    # Statistics of the training pool in [0, 1]; tests recompute them.
    mean=(0.5981, 0.5127, 0.5406),
    std=(0.3547, 0.3146, 0.3196),
    hflip=True,  # a mirrored shape is the same shape (rotations already span +-45 degrees)
    crop_padding=2,
)


def as_image_set(data: ShapeTextureSet) -> ImageSet:
    return ImageSet(torch.from_numpy(data.images), torch.from_numpy(data.labels))


def load_pool_and_test() -> tuple[ImageSet, ImageSet]:
    """The training pool (train + validation: 500 images per class, each class with its own
    texture) and the fixed test set (100 per class), generated in about a second."""
    return (as_image_set(build(split_specs("train", POOL_PER_CLASS, WORLD_SEED))),
            as_image_set(build(load_test_specs())))


def silhouettes(masks: np.ndarray) -> np.ndarray:
    """Bool maps (N x H x W) as black-on-white uint8 N x 3 x H x W images: the silhouettes of the
    second paper's Table 3g, exactly the stored shape masks filled black."""
    return np.repeat(np.where(masks, 0, 255).astype(np.uint8)[:, None], 3, axis=1)


def stylized_specs(specs: Sequence[ImageSpec], seed: int = WORLD_SEED) -> list[ImageSpec]:
    """The stylized versions of ``specs`` (the second paper's Table 3e on this world): each image
    with its shape, colours and geometry kept and its texture replaced by one of the textures no
    class uses in training, drawn per image (``default_rng((seed, 5, position))``, 5 the split
    number of ``stylized``)."""
    held_out = [TEXTURES.index(name) for name in HELD_OUT_TEXTURES]
    return [replace(spec, texture=held_out[int(np.random.default_rng((seed, SPLITS["stylized"], i)).integers(len(held_out)))])
            for i, spec in enumerate(specs)]


def load_test_specs() -> list[ImageSpec]:
    """The specs of the fixed test set of :func:`load_pool_and_test`, in its order."""
    return split_specs("test", TEST_PER_CLASS, WORLD_SEED)


def gallery(examples: int = 3, seed: int = WORLD_SEED) -> tuple[dict[str, np.ndarray], list[str]]:
    """The README's picture of the world: per class (row), ``examples`` training images, the
    first one's shape mask and texture pattern (its stored ground truth), that image with each
    held-out texture, and two cue-conflict images (this shape with other classes' textures).
    Returns rows of H x W x 3 uint8 images and the column titles."""
    rows = {}
    for c, name in enumerate(SHAPES):
        specs = [_random_spec(_rng(seed, "train", i * len(SHAPES) + c), c, c, DEFAULT_SIZE) for i in range(examples)]
        first = build(specs[:1])
        held_out = [replace(specs[0], texture=TEXTURES.index(t)) for t in HELD_OUT_TEXTURES]
        conflict = [replace(specs[0], texture=(c + k) % len(SHAPES)) for k in (1, 2)]
        images = [build(specs).images, silhouettes(first.masks[:1]), silhouettes(~first.patterns[:1]),
                  build(held_out).images, build(conflict).images]
        rows[f"{name}\n({CLASS_TEXTURES[c]})"] = np.concatenate(images).transpose(0, 2, 3, 1)
    titles = ([f"train {i + 1}" for i in range(examples)] + ["mask", "pattern"]
              + [f"held-out\n{t}" for t in HELD_OUT_TEXTURES] + ["conflict", "conflict"])
    return rows, titles


#: The probe set's concepts (:mod:`selrob.data.probe`): every shape (object), texture and colour.
PROBE_CONCEPTS = Concepts(names=("-", *SHAPES, *TEXTURES, *COLOUR_NAMES),
                          category=("", *["object"] * len(SHAPES), *["texture"] * len(TEXTURES),
                                    *["color"] * len(COLOURS)))


def probe_specs(count: int, seed: int = WORLD_SEED, size: int = DEFAULT_SIZE) -> list[ImageSpec]:
    """``count`` probe images for Network Dissection: shape, texture (any of the 12) and colours
    drawn independently, so that a unit's best concept says which factor it follows."""
    if count < 1:
        raise SelrobError(f"need at least 1 probe image, got {count}")
    specs = []
    for i in range(count):
        rng = _rng(seed, "probe", i)
        shape, texture = int(rng.integers(len(SHAPES))), int(rng.integers(len(TEXTURES)))
        specs.append(_random_spec(rng, shape, texture, size))
    return specs


def probe_labels(data: ShapeTextureSet) -> list[ImageLabels]:
    """Each image's concept labels from its stored ground truth, at its full size: object = its
    shape on the shape's pixels; texture = its texture on the shape's pixels (where the pattern is
    drawn); color = the shape's colour on the shape, the background's on the rest."""
    offset = {"object": 1, "texture": 1 + len(SHAPES), "color": 1 + len(SHAPES) + len(TEXTURES)}
    labels = []
    for mask, spec in zip(data.masks, data.specs):
        colour = np.where(mask, offset["color"] + spec.shape_colour, offset["color"] + spec.background_colour)
        labels.append(ImageLabels(
            size=mask.shape,
            pixel={"object": [np.where(mask, offset["object"] + spec.shape, 0).astype(np.int32)],
                   "texture": [np.where(mask, offset["texture"] + spec.texture, 0).astype(np.int32)],
                   "color": [colour.astype(np.int32)]},
            whole={}))
    return labels


def probe_set(count: int = 500, seed: int = WORLD_SEED) -> tuple[ShapeTextureSet, list[ImageLabels], Concepts]:
    """The world's probe set (the second paper's Broden on this world): images, their labels
    (:func:`probe_labels`) and :data:`PROBE_CONCEPTS`."""
    data = build(probe_specs(count, seed))
    return data, probe_labels(data), PROBE_CONCEPTS
