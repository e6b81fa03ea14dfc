"""Tiny ImageNet (200 classes, 64x64): download, verify, extract safely, reorganise, decode, cache.

On disk after :func:`download`: ``<root>/tiny-imagenet-200/`` with ``wnids.txt``, ``words.txt``,
``train/<wnid>/images/<wnid>_<k>.JPEG`` (500 per class) and ``val/<wnid>/images/val_<k>.JPEG``:
the official ``val/images`` folder is reorganised by class using ``val/val_annotations.txt``
(tab-separated: file, wnid, bounding box). Class indices are the positions of the wnids in
sorted order, so labels agree with Tiny-ImageNet-C's folders. The official validation set is the
paper's test set (appendix A.1.2).

Decoding 110k JPEGs takes a while, so decoded arrays are cached as ``.npy`` files beside the
images (``selrob-cache/``) on first load.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from selrob.progress import progress_bar

from selrob.data.base import DatasetInfo, ImageSet
from selrob.data.download import download_file, safe_extract
from selrob.errors import SelrobError
from selrob.io import atomic_write

URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
ARCHIVE = "tiny-imagenet-200.zip"
ARCHIVE_MD5 = "90528d7ca1a48142e341f4ef8d21d0de"
FOLDER = "tiny-imagenet-200"
CACHE = "selrob-cache"

INFO = DatasetInfo(
    name="tinyimagenet",
    num_classes=200,
    in_channels=3,
    image_size=64,
    # ImageNet statistics: Tiny ImageNet is a 64x64 subset of ImageNet.
    mean=(0.485, 0.456, 0.406),
    std=(0.229, 0.224, 0.225),
    hflip=True,
    crop_padding=4,
)


def read_wnids(folder: Path) -> list[str]:
    """Sorted class ids: index i is class label i."""
    path = Path(folder) / "wnids.txt"
    if not path.is_file():
        raise SelrobError(f"{path} is missing; is {folder} a Tiny ImageNet folder?")
    return sorted(line.strip() for line in path.read_text().splitlines() if line.strip())


def reorganise_val(folder: Path) -> None:
    """Move ``val/images/*.JPEG`` into ``val/<wnid>/images/`` (idempotent, resumable)."""
    val = Path(folder) / "val"
    flat = val / "images"
    if not flat.is_dir():
        return
    annotations = val / "val_annotations.txt"
    if not annotations.is_file():
        raise SelrobError(f"{annotations} is missing; cannot sort the validation images by class")
    for line in annotations.read_text().splitlines():
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise SelrobError(f"{annotations} has a malformed line: {line!r}")
        name, wnid = fields[0], fields[1]
        source = flat / name
        if source.is_file():
            destination = val / wnid / "images" / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            source.replace(destination)
    if any(flat.iterdir()):
        raise SelrobError(f"{flat} has images that val_annotations.txt does not list")
    flat.rmdir()


def download(root: Path, url: str = URL, md5: str = ARCHIVE_MD5, progress: bool = True) -> Path:
    """Download, verify, extract and reorganise Tiny ImageNet into ``root``."""
    folder = Path(root) / FOLDER
    if not (folder / "wnids.txt").is_file():
        archive = download_file(url, Path(root) / ARCHIVE, md5, progress)
        safe_extract(archive, Path(root))
    reorganise_val(folder)
    return folder


def decode_jpeg(path: Path) -> np.ndarray:
    """A 64x64 JPEG as uint8 RGB (gray ones converted); other sizes are an error."""
    with Image.open(path) as image:
        array = np.asarray(image.convert("RGB"), dtype=np.uint8)  # some images are grayscale
    if array.shape != (64, 64, 3):
        raise SelrobError(f"{path} is {array.shape[1]}x{array.shape[0]}, expected 64x64")
    return array


def _load_split(folder: Path, split: str, wnids: list[str], progress: bool) -> ImageSet:
    cache = folder / CACHE
    images_npy, labels_npy = cache / f"{split}_images.npy", cache / f"{split}_labels.npy"
    if images_npy.is_file() and labels_npy.is_file():
        return ImageSet(
            torch.from_numpy(np.load(images_npy, allow_pickle=False)),
            torch.from_numpy(np.load(labels_npy, allow_pickle=False)),
        )
    files, labels = [], []
    for label, wnid in enumerate(wnids):
        found = sorted((folder / split / wnid / "images").glob("*.JPEG"))
        if not found:
            raise SelrobError(f"no images for class {wnid} in {folder / split}")
        files += found
        labels += [label] * len(found)
    with ThreadPoolExecutor() as pool:  # PIL releases the GIL while decoding
        decoded = list(progress_bar(pool.map(decode_jpeg, files), total=len(files), desc=f"decoding {split}", disable=not progress))
    images = np.stack(decoded).transpose(0, 3, 1, 2).copy()
    label_array = np.asarray(labels, dtype=np.int64)
    atomic_write(images_npy, lambda handle: np.save(handle, images))
    atomic_write(labels_npy, lambda handle: np.save(handle, label_array))
    return ImageSet(torch.from_numpy(images), torch.from_numpy(label_array))


def load_pool_and_test(root: Path, progress: bool = True) -> tuple[ImageSet, ImageSet]:
    """The 100k training images and the 10k official validation images (the test set)."""
    folder = Path(root) / FOLDER
    if not folder.is_dir():
        raise SelrobError(
            f"Tiny ImageNet not found in {folder}; download it with "
            f"`selrob data download tinyimagenet --data-dir {root}`"
        )
    if (folder / "val" / "images").is_dir():
        reorganise_val(folder)
    wnids = read_wnids(folder)
    return _load_split(folder, "train", wnids, progress), _load_split(folder, "val", wnids, progress)
