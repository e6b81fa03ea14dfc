"""ImageNet's stimuli, all external: Broden (``broden1_224``, :mod:`selrob.data.broden`) as the
probe set, Geirhos et al.'s 1,280 cue-conflict stimuli (:mod:`selrob.data.cue_conflict_stimuli`;
the 80 whose shape and texture agree are the controls) decided among the 16 categories by the
mean softmax probability per category, silhouettes scored in those categories, the 16-class
stylized images as Table 3's stylized column, and the checks that say what is missing."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from selrob.data import broden
from selrob.data import cue_conflict_stimuli as stimuli
from selrob.data.probe import Concepts, ImageLabels
from selrob.errors import SelrobError
from selrob.evaluations.stimuli import (PROBE_BATCH, Batches, CueConflictImages, CueConflictSet, Gallery, PairStimuli,
                                        ProbeSet)
from selrob.measures.human_categories import decisions_from_logits

#: Broden's images at the models' input size.
PROBE_SIZE = 224


def _broden_folder(data_root: Path) -> Path:
    if (reason := broden.unavailable_reason(data_root)) is not None:
        raise SelrobError(reason)
    return data_root / broden.FOLDERS[broden.DEFAULT_VARIANT]


def _concepts(data_root: Path) -> Concepts:
    return broden.read_labels(_broden_folder(data_root)).concepts()


def _batches(data_root: Path, count: int | None) -> Batches:
    folder = _broden_folder(data_root)
    index = broden.read_index(folder)[:count]

    def batches() -> Iterator[tuple[torch.Tensor, list[ImageLabels]]]:
        for start in range(0, len(index), PROBE_BATCH):
            chosen = index[start : start + PROBE_BATCH]
            images = np.stack([broden.load_image(folder, image, PROBE_SIZE) for image in chosen])
            yield torch.from_numpy(images), [broden.image_labels(folder, image) for image in chosen]

    return batches


def _images(data_root: Path, indices: Sequence[int], count: int | None) -> torch.Tensor:
    folder = _broden_folder(data_root)
    index = broden.read_index(folder)
    return torch.from_numpy(np.stack([broden.load_image(folder, index[i], PROBE_SIZE) for i in indices]))


def _key(preprocessing: str) -> dict[str, Any]:
    return {"stimuli": "geirhos-style-transfer", "manifest": stimuli.manifest_fingerprint(stimuli.read_manifest()),
            "preprocessing": preprocessing, "mapping": "mean-softmax-16"}


def _cue_conflict_images(data_root: Path, preprocessing: str, progress: bool) -> CueConflictImages:
    loaded = stimuli.load_stimuli(data_root, preprocessing, progress=progress)
    return CueConflictImages(loaded.data, loaded.textures, loaded.conflict, decisions_from_logits, loaded.files)


def _gallery(data_root: Path, columns: int) -> Gallery:
    """Per shape category, ``columns`` of its conflict stimuli spread over its files, as they are (224 px)."""
    by_shape: dict[str, list[int]] = {}
    manifest = stimuli.read_manifest()
    for number, stimulus in enumerate(manifest):
        if stimulus.conflict:
            by_shape.setdefault(stimulus.relpath.split("/")[0], []).append(number)
    folder = data_root / stimuli.FOLDER
    numbers, pictures, captions = {}, {}, {}
    for shape in sorted(by_shape):
        members = by_shape[shape]
        numbers[shape] = members[:: max(1, len(members) // columns)][:columns]
        pictures[shape] = np.stack([stimuli.decode(folder / manifest[n].relpath, "as-is") for n in numbers[shape]])
        captions[shape] = [manifest[n].texture for n in numbers[shape]]
    return numbers, pictures, captions, [f"image {k + 1}" for k in range(columns)]


def _stimuli_missing(data_root: Path) -> str | None:
    report = stimuli.verify_stimuli(data_root)
    return None if report.ok else f"{report.summary()}; {stimuli.how_to_get(data_root)}"


def _imagenet_c_missing(data_root: Path) -> str | None:
    from selrob.corruptions import COMMON
    from selrob.data.corrupted import CorruptedSet

    try:
        missing = [name for name in COMMON if name not in CorruptedSet("imagenet", "official", data_root).corruptions()]
    except SelrobError as error:
        return str(error)
    return (f"ImageNet-C in {data_root} lacks {', '.join(missing)}; get it with `selrob data download-c imagenet "
            f"--data-dir {data_root}`") if missing else None


def _stylized_missing(data_root: Path) -> str | None:
    from selrob.data.stylized_sixteen import unavailable_reason

    return unavailable_reason(data_root)


def _segmenter_missing(data_root: Path) -> str | None:
    from selrob.distortions.image_types import SEGMENTER
    from selrob.distortions.segmentation import how_to_get

    weights = data_root / SEGMENTER
    return None if weights.is_file() else f"silhouettes need the segmentation weights at {weights}: {how_to_get()}"


IMAGENET = PairStimuli(
    dataset="imagenet",
    probe=ProbeSet(lambda data_root: f"Broden {_broden_folder(data_root).name}", _concepts, _batches, _images,
                   layers_per_group=1),  # three passes of 63,305 images per layer: an interruption keeps finished layers
    cue_conflict=CueConflictSet(stimuli.CATEGORIES, _key, _cue_conflict_images, None, _gallery),
    sixteen_class_types=frozenset({"silhouette"}),
    table3_evaluations=("stylized-sixteen",),
    needs={"cue-conflict": _stimuli_missing, "imagenet-c": _imagenet_c_missing, "stylized-16": _stylized_missing,
           "segmenter": _segmenter_missing, "broden": lambda data_root: broden.unavailable_reason(data_root)},
)
