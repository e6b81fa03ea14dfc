"""The distorted test sets of the second paper's Table 3 (d-g) on the embedded shape-texture
world, aligned image by image with the clean test set (image i of every set is made from test
image i and keeps its label), generated once and cached on disk.

* ``scrambled-2``, ``scrambled-4``, ``scrambled-8``: shape-less, a p x p grid of patches permuted
  (:mod:`.scramble`, Table 3d, Fig A1);
* ``stylized``: the shape kept, its texture replaced by one no class uses in training
  (:func:`selrob.data.shape_texture.stylized_specs`, Table 3e);
* ``contour``: the paper's B&W pipeline, binarised, traced with potrace, the SVG rasterised
  (:mod:`.contours`, Table 3f);
* ``silhouette``: the stored shape mask filled black on white (Table 3g).

Sets live in ``$SELROB_DATA/generated/<dataset>-distorted/<type>.npy`` ((N, H, W, 3) uint8, written
atomically) beside a ``manifest.json`` of how they were made; a set made otherwise is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from selrob import paths
from selrob.data import load_test_set
from selrob.data import shape_texture
from selrob.data.base import ImageSet
from selrob.data.corrupted import read_npy, write_manifest
from selrob.distortions.contours import bw_contours
from selrob.distortions.scramble import GRIDS, scramble_patches
from selrob.errors import SelrobError
from selrob.io import atomic_write

#: Bump when any image type's output changes: cached sets and their evaluations are keyed by it.
VERSION = 1
SCRAMBLED: dict[str, int] = {f"scrambled-{grid}": grid for grid in GRIDS}
#: Table 3's image types in its column order (d-g).
IMAGE_TYPES: tuple[str, ...] = (*SCRAMBLED, "stylized", "contour", "silhouette")
#: Texture-less types (Table 3's "texture-less" columns e-g) and shape-less ones (d).
TEXTURE_LESS: tuple[str, ...] = ("stylized", "contour", "silhouette")
SHAPE_LESS: tuple[str, ...] = tuple(SCRAMBLED)
DATASETS = ("shapes",)
SEED = 0


def check_image_type(image_type: str) -> str:
    """Return ``image_type`` if it is one of :data:`IMAGE_TYPES`."""
    if image_type not in IMAGE_TYPES:
        raise SelrobError(f"unknown image type {image_type!r}; choose one of: {', '.join(IMAGE_TYPES)}")
    return image_type


def _check_dataset(dataset: str) -> str:
    if dataset not in DATASETS:
        raise SelrobError(f"distorted test sets are generated for {', '.join(DATASETS)}, not {dataset!r}")
    return dataset


def distorted_dir(dataset: str, data_root: str | Path | None = None) -> Path:
    """Folder of ``dataset``'s generated distorted sets."""
    return paths.data_dir(data_root) / "generated" / f"{_check_dataset(dataset)}-distorted"


def manifest(dataset: str) -> dict[str, object]:
    """What names a folder of distorted sets (and the evaluations made from it)."""
    return {"dataset": dataset, "seed": SEED, "version": VERSION, "contour": {"style": "outline", "threshold": 0.5}}


def _world_images(image_type: str) -> np.ndarray:
    """(N, H, W, 3) uint8 images of ``image_type`` for the world's test set."""
    specs = shape_texture.load_test_specs()
    if image_type == "stylized":
        return shape_texture.build(shape_texture.stylized_specs(specs, SEED)).images.transpose(0, 2, 3, 1)
    if image_type == "silhouette":
        return shape_texture.silhouettes(shape_texture.build(specs).masks).transpose(0, 2, 3, 1)
    clean = shape_texture.build(specs).images.transpose(0, 2, 3, 1)
    if image_type in SCRAMBLED:
        return scramble_patches(clean, SCRAMBLED[image_type], SEED)
    return bw_contours(clean)


_MAKERS: dict[str, Callable[[str], np.ndarray]] = {"shapes": _world_images}


def distorted_set(dataset: str, image_type: str, data_root: str | Path | None = None) -> ImageSet:
    """The ``image_type`` version of ``dataset``'s test set, with the test labels; generated and
    cached on first use (the contours take longest: seconds for the world's 1,000 images)."""
    check_image_type(image_type)
    folder = distorted_dir(dataset, data_root)
    path = folder / f"{image_type}.npy"
    labels = load_test_set(dataset, data_root).labels
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        write_manifest(folder, manifest(dataset))
        images = _MAKERS[dataset](image_type)
        atomic_write(path, lambda handle: np.save(handle, images))
    else:
        write_manifest(folder, manifest(dataset))  # refuses a folder made otherwise
    images = np.asarray(read_npy(path))
    if len(images) != len(labels):
        raise SelrobError(f"{path} holds {len(images)} images for a test set of {len(labels)}; delete it to regenerate")
    return ImageSet(torch.from_numpy(images.transpose(0, 3, 1, 2).copy()), labels)
