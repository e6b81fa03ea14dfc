"""The distorted test sets of the second paper's Table 3 (d-g), aligned image by image with the
clean test set (image i of every set is made from test image i and keeps its label), generated
once and cached on disk.

On the embedded shape-texture world (``shapes``), every type:

* ``scrambled-2``, ``scrambled-4``, ``scrambled-8``: shape-less, a p x p grid of patches permuted
  (:mod:`.scramble`, Table 3d, Fig A1);
* ``stylized``: the shape kept, its texture replaced by one no class uses in training
  (:func:`selrob.data.shape_texture.stylized_specs`, Table 3e);
* ``contour``: the paper's B&W pipeline, binarised, traced with potrace, the SVG rasterised
  (:mod:`.contours`, Table 3f);
* ``silhouette``: the stored shape mask filled black on white (Table 3g).

On ImageNet (``imagenet``, the validation images as the model sees them): the scrambled types
(computed as they are read), ``contour`` and ``silhouette`` (segmented by a torchvision
DeepLabV3, a substitute for the paper's DeepLab-v2 on COCO-Stuff, :mod:`.segmentation`; only
for the images asked for, the paper's 16-category ones). Stylized ImageNet images are a set of
their own (:mod:`selrob.data.stylized_sixteen`), not a transform of these.

Sets live in ``$SELROB_DATA/generated/<dataset>-distorted/``: the world's as ``<type>.npy``
((N, H, W, 3) uint8, written atomically), ImageNet's in chunks of :data:`CHUNK` validation
images (``<type>/<k>.npz``, resumable), beside a ``manifest.json`` of how they were made; a folder
made otherwise is refused.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
import os
from pathlib import Path

import numpy as np
import torch

from selrob import paths
from selrob.data import load_test_set
from selrob.data import shape_texture
from selrob.data.base import ImageSet
from selrob.data.corrupted import read_npy
from selrob.data.corrupted_writing import write_manifest
from selrob.distortions import segmentation
from selrob.distortions.contours import bw_contours
from selrob.distortions.scramble import GRIDS, scramble_patches
from selrob.errors import SelrobError
from selrob.io import atomic_write
from selrob.progress import progress_bar

#: Bump when any image type's output changes: cached sets and their evaluations are keyed by it.
VERSION = 1
SCRAMBLED: dict[str, int] = {f"scrambled-{grid}": grid for grid in GRIDS}
#: Table 3's image types in its column order (d-g).
IMAGE_TYPES: tuple[str, ...] = (*SCRAMBLED, "stylized", "contour", "silhouette")
IMAGENET_TYPES: tuple[str, ...] = (*SCRAMBLED, "contour", "silhouette")
SEED = 0
#: ImageNet images per cached chunk (and per batch read).
CHUNK = 256
#: Where the segmentation weights are looked for, under the data folder.
SEGMENTER = Path("segmentation") / segmentation.WEIGHTS_FILE


@dataclass(frozen=True)
class Recipe:
    """How a dataset's distorted sets are made: its image types, whether each is generated whole
    from the dataset's own image specifications (``whole``: the world's, in seconds) or made from
    the test images asked for, in chunks, and what else names its folder (``made``)."""

    types: tuple[str, ...]
    whole: bool
    made: dict[str, object]


RECIPES: dict[str, Recipe] = {
    "shapes": Recipe(IMAGE_TYPES, whole=True, made={}),
    "imagenet": Recipe(IMAGENET_TYPES, whole=False,
                       made={"chunk": CHUNK, "segmenter": segmentation.WEIGHTS_FILE, "segmenter_resize": segmentation.RESIZE}),
}


def without_recipe(dataset: str) -> str | None:
    """Why no distorted test set is made for ``dataset`` (``None``: one is)."""
    return None if dataset in RECIPES else f"distorted test sets are generated for {', '.join(RECIPES)}, not {dataset!r}"


def recipe(dataset: str) -> Recipe:
    if (reason := without_recipe(dataset)) is not None:
        raise SelrobError(reason)
    return RECIPES[dataset]


def image_types(dataset: str) -> tuple[str, ...]:
    """The image types of ``dataset`` in Table 3's column order."""
    return recipe(dataset).types


def check_image_type(image_type: str, dataset: str = "shapes") -> str:
    """Return ``image_type`` if ``dataset`` has it."""
    if image_type not in image_types(dataset):
        raise SelrobError(f"unknown image type {image_type!r}; choose one of: {', '.join(image_types(dataset))}")
    return image_type


def distorted_dir(dataset: str, data_root: str | Path | None = None) -> Path:
    """Folder of ``dataset``'s generated distorted sets."""
    recipe(dataset)  # refuses a dataset without distorted sets
    return paths.data_dir(data_root) / "generated" / f"{dataset}-distorted"


def manifest(dataset: str) -> dict[str, object]:
    """What names a folder of distorted sets (and the evaluations made from it)."""
    return {"dataset": dataset, "seed": SEED, "version": VERSION, "contour": {"style": "outline", "threshold": 0.5},
            **recipe(dataset).made}


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


def distorted_set(dataset: str, image_type: str, data_root: str | Path | None = None) -> ImageSet:
    """The ``image_type`` version of the world's test set, with the test labels; generated and
    cached on first use (the contours take longest: seconds for the world's 1,000 images)."""
    if not recipe(dataset).whole:
        raise SelrobError(f"{dataset}'s distorted images are read in batches (distorted_batches), not as one set")
    check_image_type(image_type, dataset)
    folder = distorted_dir(dataset, data_root)
    path = folder / f"{image_type}.npy"
    labels = load_test_set(dataset, data_root).labels
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        write_manifest(folder, manifest(dataset))
        images = _world_images(image_type)
        atomic_write(path, lambda handle: np.save(handle, images))
    else:
        write_manifest(folder, manifest(dataset))  # refuses a folder made otherwise
    images = np.asarray(read_npy(path))
    if len(images) != len(labels):
        raise SelrobError(f"{path} holds {len(images)} images for a test set of {len(labels)}; delete it to regenerate")
    return ImageSet(torch.from_numpy(images.transpose(0, 3, 1, 2).copy()), labels)


def _nhwc(images: torch.Tensor) -> np.ndarray:
    return images.permute(0, 2, 3, 1).numpy()


def _contour_chunk(images: np.ndarray) -> np.ndarray:
    return bw_contours(images).transpose(0, 3, 1, 2)


def _chunked(positions: Sequence[int]) -> dict[int, list[int]]:
    """``positions`` grouped by the chunk holding them, in order."""
    chunks: dict[int, list[int]] = {}
    for position in positions:
        chunks.setdefault(int(position) // CHUNK, []).append(int(position))
    return chunks


class _ChunkCache:
    """One ImageNet image type's chunks on disk: ``<k>.npz`` with the positions it holds and their
    (M, 3, H, W) images, written atomically as each chunk is done."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def read(self, chunk: int, wanted: Sequence[int]) -> np.ndarray | None:
        path = self.folder / f"{chunk}.npz"
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as stored:
            held = {int(p): k for k, p in enumerate(stored["positions"])}
            if not all(p in held for p in wanted):
                return None
            return stored["images"][[held[p] for p in wanted]]

    def write(self, chunk: int, positions: Sequence[int], images: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write(self.folder / f"{chunk}.npz",
                     lambda handle: np.savez(handle, positions=np.asarray(positions), images=images))


def distorted_batches(dataset: str, image_type: str, clean: ImageSet, positions: Sequence[int],
                      data_root: str | Path | None = None, device: torch.device | str | None = None,
                      workers: int | None = None, progress: bool = False) -> Iterator[tuple[list[int], ImageSet]]:
    """The ``image_type`` versions of the test images at ``positions`` of ``clean`` (the test set as
    the model sees it), as ``(positions, images with their labels)`` batches in order.

    ImageNet contours are traced in ``workers`` processes (one per core by default); silhouettes are
    segmented on ``device`` with the weights at ``$SELROB_DATA/segmentation/`` (a one-line error
    says where to get them).
    """
    check_image_type(image_type, dataset)
    if recipe(dataset).whole:
        whole = distorted_set(dataset, image_type, data_root)
        yield list(positions), whole.subset(torch.as_tensor(list(positions), dtype=torch.long))
        return
    folder = distorted_dir(dataset, data_root)
    folder.mkdir(parents=True, exist_ok=True)
    write_manifest(folder, manifest(dataset))
    chunks = _chunked(positions)
    if image_type in SCRAMBLED:
        for chunk, members in chunks.items():
            index = torch.as_tensor(members)
            images = scramble_patches(_nhwc(clean.images[index]), SCRAMBLED[image_type], SEED, members)
            yield members, ImageSet(torch.from_numpy(images.transpose(0, 3, 1, 2).copy()), clean.labels[index])
        return
    # Keyed by the clean images' size too: another preprocessing makes other images.
    cache = _ChunkCache(folder / f"{image_type}-{clean.images.shape[-2]}x{clean.images.shape[-1]}")
    missing = [chunk for chunk, members in chunks.items() if cache.read(chunk, members) is None]
    if missing and image_type == "contour":
        from selrob.parallel import completed_in_processes

        workers = min(workers or os.cpu_count() or 1, len(missing))
        bar = progress_bar(total=len(missing), desc="contours", unit="chunk", disable=not progress)
        # A few chunks per worker at a time: the images of all of them would not fit in memory.
        for start in range(0, len(missing), 4 * workers):
            group = missing[start : start + 4 * workers]
            arguments = [(_nhwc(clean.images[torch.as_tensor(chunks[chunk])]),) for chunk in group]
            done = (((k, _contour_chunk(*args)) for k, args in enumerate(arguments)) if workers == 1 else
                    ((k, future.result()) for k, future in completed_in_processes(_contour_chunk, arguments, workers)))
            for k, traced in done:
                cache.write(group[k], chunks[group[k]], traced)
                bar.update()
        bar.close()
    elif missing:
        weights = paths.data_dir(data_root) / SEGMENTER
        if not weights.is_file():
            raise SelrobError(f"silhouettes need the segmentation weights at {weights}: {segmentation.how_to_get()}")
        model = segmentation.load_segmenter(weights).to(device)
        for chunk in progress_bar(missing, desc="silhouettes", unit="chunk", disable=not progress):
            masks = segmentation.foreground_masks(model, clean.images[torch.as_tensor(chunks[chunk])], device=device)
            cache.write(chunk, chunks[chunk], shape_texture.silhouettes(masks.numpy()))
    for chunk, members in chunks.items():
        images = cache.read(chunk, members)
        assert images is not None  # written above
        yield members, ImageSet(torch.from_numpy(images), clean.labels[torch.as_tensor(members)])
