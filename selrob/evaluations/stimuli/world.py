"""The embedded shape-texture world's stimuli (:mod:`selrob.data.shape_texture`): its own probe set
(500 images labelled by shape, texture and colour) and 900 cue-conflict images (the shape of class
i in the texture of class j != i, :data:`PER_PAIR` per ordered pair), each with a non-conflict
control, decided by the model's top-1 class among the world's 10."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from selrob.data import shape_texture as world
from selrob.data.base import ImageSet
from selrob.data.probe import Concepts, ImageLabels
from selrob.evaluations.stimuli import (PROBE_BATCH, Batches, CueConflictImages, CueConflictSet, Gallery, PairStimuli,
                                        ProbeSet)
from selrob.measures.ablation import top1

#: Probe images (the second paper's Broden on this world).
PROBE_IMAGES = 500
#: Cue-conflict images per ordered (shape, texture) pair: 10 x 9 pairs x 10 = 900.
PER_PAIR = 10


def _probe(count: int | None) -> world.ShapeTextureSet:
    return world.probe_set(min(PROBE_IMAGES, count or PROBE_IMAGES))[0]


def _concepts(data_root: Path) -> Concepts:
    return world.PROBE_CONCEPTS


def _batches(data_root: Path, count: int | None) -> Batches:
    data, labels, _ = world.probe_set(min(PROBE_IMAGES, count or PROBE_IMAGES))
    images = torch.from_numpy(data.images)

    def batches() -> Iterator[tuple[torch.Tensor, list[ImageLabels]]]:
        for start in range(0, len(labels), PROBE_BATCH):
            yield images[start : start + PROBE_BATCH], labels[start : start + PROBE_BATCH]

    return batches


def _images(data_root: Path, indices: Sequence[int], count: int | None) -> torch.Tensor:
    return torch.from_numpy(_probe(count).images[list(indices)])


def _specs() -> list[world.ImageSpec]:
    return world.cue_conflict_specs(PER_PAIR, world.WORLD_SEED)


def _key(preprocessing: str) -> dict[str, Any]:
    return {"world": "shape-texture", "seed": world.WORLD_SEED, "per_pair": PER_PAIR}


def _cue_conflict_images(data_root: Path, preprocessing: str, progress: bool) -> CueConflictImages:
    specs = _specs()
    data, textures = world.as_image_set(world.build(specs)), torch.tensor([s.texture for s in specs])
    return CueConflictImages(data, textures, data.labels != textures, top1)


def _controls() -> ImageSet:
    return world.as_image_set(world.build(world.control_specs(_specs())))


def _gallery(data_root: Path, columns: int) -> Gallery:
    """Per shape, ``columns`` of its images in textures spread over the other classes'."""
    specs = _specs()
    count = len(world.SHAPES)
    numbers, pictures, captions = {}, {}, {}
    for shape, name in enumerate(world.SHAPES):
        textures = [(shape + 1 + k * (count - 1) // columns) % count for k in range(columns)]
        chosen = [next(i for i, s in enumerate(specs) if s.shape == shape and s.texture == t) for t in textures]
        numbers[name] = chosen
        pictures[name] = world.build([specs[i] for i in chosen]).images.transpose(0, 2, 3, 1)
        captions[name] = [world.CLASS_TEXTURES[t] for t in textures]
    return numbers, pictures, captions, [f"texture {k + 1}" for k in range(columns)]


WORLD = PairStimuli(
    dataset="shapes",
    probe=ProbeSet(lambda data_root: f"shape-texture world, {PROBE_IMAGES} images", _concepts, _batches, _images,
                   layers_per_group=None),  # the whole world's probe set takes seconds: every layer at once
    cue_conflict=CueConflictSet(world.SHAPES, _key, _cue_conflict_images, _controls, _gallery),
    own_galleries=True,
)
