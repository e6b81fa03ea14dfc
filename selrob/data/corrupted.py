"""Corrupted test sets (-C): the official releases and sets selrob generates, behind one interface.

Two on-disk layouts, those of the official releases (Hendrycks & Dietterich 2019):

* ``npy`` (CIFAR-10-C, and digits-C here): ``<set>/<corruption>.npy`` of shape (5 N, H, W, C) uint8,
  rows ``(s - 1) N .. s N`` holding severity s in test-set order, and ``labels.npy`` (5 N,).
* ``jpeg`` (Tiny-ImageNet-C): ``<set>/<corruption>/<severity>/<wnid>/*.JPEG``. Decoded images
  are cached as ``<set>/selrob-cache/<corruption>.npy`` (+ labels) on first use. Class indices
  are the sorted wnids, as for Tiny ImageNet. The original release's ``frost`` has 1000 class
  folders instead of 200; only the set's 200 classes are read.

Official sets live in ``$SELROB_DATA/<folder>`` and generated ones in
``$SELROB_DATA/generated/<folder>`` with a ``manifest.json`` saying how they were made.
"""

from __future__ import annotations

import functools
import json
import shutil
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from selrob import paths
from selrob.data.corrupted_names import RELEASE_CORRUPTIONS
from selrob.data.base import ImageSet
from selrob.data.download import download_file, safe_extract
from selrob.data.tinyimagenet import decode_jpeg
from selrob.errors import SelrobError
from selrob.io import atomic_write, read_json, short_hash

SOURCES = ("generated", "official")
SEVERITY_LEVELS = (1, 2, 3, 4, 5)
MANIFEST = "manifest.json"
CACHE = "selrob-cache"
JPEG_QUALITY = 85  # the Tiny-ImageNet-C release's


@dataclass(frozen=True)
class CorruptedFormat:
    """How one dataset's -C set is stored and made."""

    folder: str
    layout: str  # "npy" or "jpeg"
    table: str  # severity table of selrob.corruptions.SEVERITIES used to generate it
    downloads: tuple[tuple[str, str], ...]  # official archives: (url, md5)


FORMATS: dict[str, CorruptedFormat] = {
    "digits": CorruptedFormat("digits-C", "npy", "cifar10", ()),
    "cifar10": CorruptedFormat(
        "CIFAR-10-C", "npy", "cifar10",
        (("https://zenodo.org/records/2535967/files/CIFAR-10-C.tar", "56bf5dcef84df0e2308c6dcbcbbd8499"),),
    ),
    # Zenodo 8206060 is the re-upload with the frost folder fixed (the 2536630 original has 1000
    # frost classes); both are read correctly.
    "tinyimagenet": CorruptedFormat(
        "Tiny-ImageNet-C", "jpeg", "tinyimagenet",
        (
            ("https://zenodo.org/records/8206060/files/Tiny-ImageNet-C.tar", "f9c9a9dbdc11469f0b850190f7ad8be1"),
            ("https://zenodo.org/records/8206060/files/Tiny-ImageNet-C-extra.tar", "0db0588d243cf403ef93449ec52b70eb"),
        ),
    ),
}


def corrupted_format(dataset: str) -> CorruptedFormat:
    """The -C format of ``dataset``, or a one-line error naming the choices."""
    if dataset not in FORMATS:
        raise SelrobError(f"no corrupted test set for dataset {dataset!r}; choose one of: {', '.join(FORMATS)}")
    return FORMATS[dataset]


def check_source(source: str) -> str:
    """Return ``source`` if it is ``generated`` or ``official``."""
    if source not in SOURCES:
        raise SelrobError(f"unknown corrupted-set source {source!r}; choose one of: {', '.join(SOURCES)}")
    return source


def corrupted_dir(dataset: str, source: str = "generated", data_root: str | Path | None = None) -> Path:
    """Folder of the ``source`` -C set of ``dataset``."""
    folder = corrupted_format(dataset).folder
    base = paths.data_dir(data_root)
    return base / folder if check_source(source) == "official" else base / "generated" / folder


def download_corrupted(dataset: str, data_root: str | Path | None = None, progress: bool = True) -> Path:
    """Download, verify (MD5) and extract the official -C release of ``dataset``."""
    fmt = corrupted_format(dataset)
    if not fmt.downloads:
        raise SelrobError(f"{dataset} has no official corrupted release; generate one with `selrob data make-c --dataset {dataset}`")
    root = paths.data_dir(data_root)
    for url, md5 in fmt.downloads:
        archive = download_file(url, root / url.rsplit("/", 1)[1], md5, progress)
        safe_extract(archive, root)
    return root / fmt.folder


def read_npy(path: Path, shape_tail: tuple[int, ...] | None = None) -> np.ndarray:
    """Memory-map a uint8 ``.npy`` file, with a clear error if it is missing, corrupt or truncated."""
    if not path.is_file():
        raise SelrobError(f"{path} is missing")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise SelrobError(f"{path} is corrupt or truncated ({err})") from None
    if array.dtype != np.uint8 or (shape_tail is not None and array.shape[1:] != shape_tail):
        raise SelrobError(f"{path} holds {array.dtype} {array.shape}, expected uint8 (rows, {shape_tail})")
    return array


def finished_corruptions(folder: Path, layout: str) -> list[str]:
    """Corruptions whose file (``npy``) or folder (``jpeg``) is in ``folder``, in release order.
    Both are written atomically, so present means finished."""
    if layout == "npy":
        return [name for name in RELEASE_CORRUPTIONS if (folder / f"{name}.npy").is_file()]
    return [name for name in RELEASE_CORRUPTIONS if (folder / name).is_dir()]


class CorruptedSet:
    """One -C set on disk: which corruptions it holds and each (corruption, severity) as an
    :class:`ImageSet` (uint8 (N, C, H, W) images and labels, as the clean sets)."""

    def __init__(self, dataset: str, source: str = "generated", data_root: str | Path | None = None) -> None:
        self.dataset = dataset
        self.source = check_source(source)
        self.format = corrupted_format(dataset)
        self.path = corrupted_dir(dataset, source, data_root)
        #: The flag that keeps the user's data folder in the commands hints name.
        self.data_flag = "" if data_root is None else f" --data-dir {paths.data_dir(data_root)}"
        if not self.path.is_dir():
            hint = (f"`selrob data make-c --dataset {dataset}{self.data_flag}`" if source == "generated"
                    else f"`selrob data download-c {dataset}{self.data_flag}`")
            raise SelrobError(f"no {source} corrupted set for {dataset} in {self.path}; make it with {hint}")

    def corruptions(self) -> list[str]:
        """The finished corruptions present, in the release's order."""
        return finished_corruptions(self.path, self.format.layout)

    @functools.cached_property
    def fingerprint(self) -> str:
        """Short hash (read once per object) naming this set's contents in result caches: the manifest of a generated set,
        the published checksums of an official one."""
        if self.source == "official":
            text = json.dumps(self.format.downloads)
        else:
            manifest = self.path / MANIFEST
            if not manifest.is_file():
                raise SelrobError(f"{manifest} is missing; regenerate with `selrob data make-c --dataset {self.dataset}{self.data_flag}`")
            text = manifest.read_text()
        return short_hash(text)

    def load(self, corruption: str, severity: int) -> ImageSet:
        """Images and labels of one (corruption, severity) cell."""
        if severity not in SEVERITY_LEVELS:
            raise SelrobError(f"severity must be 1..5, got {severity}")
        images, labels = self._all_severities(corruption)
        per = len(labels) // len(SEVERITY_LEVELS)
        rows = slice((severity - 1) * per, severity * per)
        return ImageSet(
            torch.from_numpy(np.ascontiguousarray(images[rows]).transpose(0, 3, 1, 2).copy()),
            torch.from_numpy(labels[rows].astype(np.int64)),
        )

    def _all_severities(self, corruption: str) -> tuple[np.ndarray, np.ndarray]:
        if corruption not in RELEASE_CORRUPTIONS:
            raise SelrobError(f"unknown corruption {corruption!r}; choose one of: {', '.join(RELEASE_CORRUPTIONS)}")
        if self.format.layout == "npy":
            images = read_npy(self.path / f"{corruption}.npy")
            labels = np.asarray(read_npy(self.path / "labels.npy"))
        else:
            images, labels = self._decoded(corruption)
        if images.ndim != 4 or len(images) != len(labels) or len(labels) % len(SEVERITY_LEVELS):
            raise SelrobError(
                f"{corruption} in {self.path} has {len(images)} images for {len(labels)} labels; expected 5 equal severities"
            )
        return images, labels

    def class_ids(self) -> list[str]:
        """Sorted wnids of a JPEG set: the class folders of its corruption with the fewest (the
        original release's ``frost`` has 1000 where every other corruption has 200)."""
        listings = [sorted(p.name for p in (self.path / name / "1").iterdir() if p.is_dir()) for name in self.corruptions()]
        if not listings or not min(listings, key=len):
            raise SelrobError(f"{self.path} holds no <corruption>/1/<class> folders")
        return min(listings, key=len)

    def _decoded(self, corruption: str) -> tuple[np.ndarray, np.ndarray]:
        cache = self.path / CACHE
        images_npy, labels_npy = cache / f"{corruption}.npy", cache / f"{corruption}_labels.npy"
        if images_npy.is_file() and labels_npy.is_file():
            return read_npy(images_npy), np.asarray(read_npy(labels_npy))
        folder = self.path / corruption
        if not folder.is_dir():
            raise SelrobError(f"{folder} is missing")
        wnids = self.class_ids()
        extra = {p.name for p in (folder / "1").iterdir() if p.is_dir()} - set(wnids)
        if extra:
            warnings.warn(f"{folder} has {len(extra)} class folders beyond the set's {len(wnids)}; ignoring them", stacklevel=2)
        files, labels = [], []
        for severity in SEVERITY_LEVELS:
            for label, wnid in enumerate(wnids):
                found = sorted((folder / str(severity) / wnid).glob("*.JPEG"))
                if not found:
                    raise SelrobError(f"no images in {folder / str(severity) / wnid}")
                files += found
                labels += [label] * len(found)
        with ThreadPoolExecutor() as pool:  # PIL releases the GIL while decoding
            images = np.stack(list(pool.map(decode_jpeg, files)))
        label_array = np.asarray(labels, dtype=np.uint8)
        atomic_write(images_npy, lambda handle: np.save(handle, images))
        atomic_write(labels_npy, lambda handle: np.save(handle, label_array))
        return images, label_array


def write_manifest(folder: Path, settings: dict[str, Any]) -> None:
    """Record how a generated set is made; refuse to mix settings in one folder."""
    manifest = folder / MANIFEST
    if manifest.is_file() and read_json(manifest) != settings:
        raise SelrobError(f"{folder} was generated with other settings ({manifest}); delete it or pick another --data-dir")
    if not manifest.is_file():
        atomic_write(manifest, lambda handle: handle.write(json.dumps(settings, indent=2, sort_keys=True).encode()))


def write_npy_block(folder: Path, corruption: str, images: np.ndarray) -> None:
    """Write one corruption's (5 N, H, W, C) array atomically."""
    atomic_write(folder / f"{corruption}.npy", lambda handle: np.save(handle, images))


def write_jpeg_block(folder: Path, corruption: str, images: np.ndarray, labels: np.ndarray, wnids: list[str]) -> None:
    """Write one corruption's five severities as JPEG folders, into a hidden folder renamed at the end."""
    partial = folder / f".partial-{corruption}"
    shutil.rmtree(partial, ignore_errors=True)  # left by an interrupted run
    per = len(labels) // len(SEVERITY_LEVELS)
    for row, (image, label) in enumerate(zip(images, labels)):
        severity, index = divmod(row, per)
        target = partial / str(severity + 1) / wnids[int(label)]
        target.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(target / f"test_{index}.JPEG", quality=JPEG_QUALITY)
    partial.replace(folder / corruption)
