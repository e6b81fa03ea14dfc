"""ImageNet-A (Hendrycks et al. 2021), natural adversarial examples, restricted to the classes
it shares with Tiny ImageNet (appendix A.6, Figure A15).

On disk after :func:`download`: ``<root>/imagenet-a/<wnid>/*.jpg`` (200 class folders of images
of any size) and ``README.txt``. The shared classes are the intersection of those folder names
with Tiny ImageNet's ``wnids.txt``, computed, not listed (the paper: 74 classes, 2957 images).
Each image is converted to RGB and resized to 64x64 (PIL bilinear with antialiasing, aspect ratio
not kept: the paper says only "downsampling to 64 x 64"); labels are Tiny ImageNet class
indices. The decoded set is cached as ``.npy`` files in ``imagenet-a/selrob-cache/``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from selrob.progress import progress_bar

from selrob.data import tinyimagenet
from selrob.data.base import ImageSet
from selrob.data.download import download_file, safe_extract
from selrob.errors import SelrobError
from selrob.io import atomic_write, short_hash

URL = "https://people.eecs.berkeley.edu/~hendrycks/imagenet-a.tar"
ARCHIVE = "imagenet-a.tar"
ARCHIVE_MD5 = "c3e55429088dc681f30d81f4726b6595"
FOLDER = "imagenet-a"
CACHE = "selrob-cache"
SIZE = 64
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


@dataclass
class NaturalAdversarialSet:
    """The shared-class images, and the Tiny ImageNet class indices predictions are restricted to."""

    data: ImageSet
    class_indices: list[int]
    wnids: list[str]
    fingerprint: str


def download(root: Path, url: str = URL, md5: str = ARCHIVE_MD5, progress: bool = True) -> Path:
    """Download, verify (MD5) and extract ImageNet-A into ``root``."""
    folder = Path(root) / FOLDER
    if not folder.is_dir():
        archive = download_file(url, Path(root) / ARCHIVE, md5, progress)
        safe_extract(archive, Path(root))
    return folder


def shared_wnids(imagenet_a: Path, tiny_wnids: list[str]) -> list[str]:
    """Sorted class ids that are both an ImageNet-A folder and a Tiny ImageNet class."""
    folders = {path.name for path in Path(imagenet_a).iterdir() if path.is_dir() and path.name.startswith("n")}
    return sorted(folders & set(tiny_wnids))


def resize_image(path: Path, size: int = SIZE) -> np.ndarray:
    """One image file as uint8 RGB ``size x size``; an unreadable file is a one-line error."""
    try:
        with Image.open(path) as image:
            resized = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    except (OSError, SyntaxError) as err:
        raise SelrobError(f"cannot read {path}: {err}") from None
    return np.asarray(resized, dtype=np.uint8)


def load_natural_adversarial(data_root: Path, progress: bool = True) -> NaturalAdversarialSet:
    """ImageNet-A's images of the classes shared with Tiny ImageNet, labelled with Tiny ImageNet
    class indices. Needs both datasets under ``data_root``."""
    folder = Path(data_root) / FOLDER
    tiny = Path(data_root) / tinyimagenet.FOLDER
    if not folder.is_dir():
        raise SelrobError(f"ImageNet-A not found in {folder}; download it with `selrob data download imagenet-a --data-dir {data_root}`")
    if not tiny.is_dir():
        raise SelrobError(f"Tiny ImageNet not found in {tiny}; download it with `selrob data download tinyimagenet --data-dir {data_root}`")
    tiny_wnids = tinyimagenet.read_wnids(tiny)
    wnids = shared_wnids(folder, tiny_wnids)
    if not wnids:
        raise SelrobError(f"no class folder of {folder} is a Tiny ImageNet class")
    files, labels = [], []
    for wnid in wnids:
        found = sorted(p for p in (folder / wnid).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        files += found
        labels += [tiny_wnids.index(wnid)] * len(found)
    if not files:
        raise SelrobError(f"no images in the shared class folders of {folder}")
    listing = "\n".join(f"{p.relative_to(folder)}:{p.stat().st_size}" for p in files)
    fingerprint = short_hash(f"{SIZE}\n{listing}")
    cache = folder / CACHE
    images_npy, labels_npy = cache / f"shared-{fingerprint}-images.npy", cache / f"shared-{fingerprint}-labels.npy"
    if images_npy.is_file() and labels_npy.is_file():
        images = np.load(images_npy, allow_pickle=False)
        label_array = np.load(labels_npy, allow_pickle=False)
    else:
        with ThreadPoolExecutor() as pool:  # PIL releases the GIL while decoding
            decoded = list(progress_bar(pool.map(resize_image, files), total=len(files), desc="decoding ImageNet-A",
                                disable=not progress))
        images = np.stack(decoded).transpose(0, 3, 1, 2).copy()
        label_array = np.asarray(labels, dtype=np.int64)
        atomic_write(images_npy, lambda handle: np.save(handle, images))
        atomic_write(labels_npy, lambda handle: np.save(handle, label_array))
    data = ImageSet(torch.from_numpy(images), torch.from_numpy(label_array))
    return NaturalAdversarialSet(data, [tiny_wnids.index(w) for w in wnids], wnids, fingerprint)


def shares_classes(dataset: str) -> bool:
    """Whether ``dataset``'s models can be scored on ImageNet-A (Tiny ImageNet's: they share classes)."""
    return dataset == tinyimagenet.INFO.name


def without_shared_classes(dataset: str) -> str | None:
    """Why ``dataset``'s models cannot be scored on ImageNet-A (``None``: they can)."""
    return None if shares_classes(dataset) else f"ImageNet-A shares classes with Tiny ImageNet only, not {dataset}"


def unavailable_reason(dataset: str, data_root: Path) -> str | None:
    """Why Figure A15 cannot be drawn for ``dataset`` runs here, or ``None`` if it can."""
    if (reason := without_shared_classes(dataset)) is not None:
        return reason
    for folder, name in ((FOLDER, "imagenet-a"), (tinyimagenet.FOLDER, "tinyimagenet")):
        if not (Path(data_root) / folder).is_dir():
            return f"{Path(data_root) / folder} is missing; download it with `selrob data download {name} --data-dir {data_root}`"
    return None
