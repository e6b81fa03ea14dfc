"""Corrupted test sets (-C): the official releases and sets selrob generates, behind one interface.

Two on-disk layouts, those of the official releases (Hendrycks & Dietterich 2019):

* ``npy`` (CIFAR-10-C, and digits-C and shapes-C here): ``<set>/<corruption>.npy`` of shape
  (5 N, H, W, C) uint8, rows ``(s - 1) N .. s N`` holding severity s in test-set order, and
  ``labels.npy`` (5 N,).
* ``jpeg`` (Tiny-ImageNet-C, ImageNet-C): ``<set>/<corruption>/<severity>/<wnid>/*.JPEG``. Class
  indices are the sorted wnids, as for Tiny ImageNet and ImageNet.

  Tiny-ImageNet-C's decoded images are cached as ``<set>/selrob-cache/<corruption>.npy`` (+ labels)
  on first use, in class-folder order. The original release's ``frost`` has 1000 class folders
  instead of 200; only the set's 200 classes are read.

  ImageNet-C (250,000 images per corruption) is too big for that cache. Its files carry the names of
  the validation images they were made from (``ILSVRC2012_val_00000001.JPEG`` ...), so a cell is
  read *aligned* with the clean validation set (image i is file number i + 1, the order of
  :mod:`selrob.data.imagenet`), on demand: ``load(..., indices=...)`` decodes only the files asked
  for. Its archives are extracted into ``<set>``; copies differ in whether category folders
  (``blur/``, ``digital/``, ...) sit above the corruption folders, so each corruption's folder is
  looked for at the top of ``<set>`` or one level down.

Official sets live in ``$SELROB_DATA/<folder>`` and generated ones in
``$SELROB_DATA/generated/<folder>`` with a ``manifest.json`` saying how they were made.
"""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from selrob import paths
from selrob.data.corrupted_names import RELEASE_CORRUPTIONS
from selrob.data.base import ImageSet
from selrob.data.download import download_file, safe_extract
from selrob.data.imagenet import VAL_NAME
from selrob.data.tinyimagenet import decode_jpeg
from selrob.errors import SelrobError
from selrob.io import atomic_write, short_hash

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
    #: ``jpeg`` files named after the clean test files (ImageNet-C): cells are read in the clean
    #: order, only the files asked for, uncached. selrob's writer names files by position, so such
    #: a set is official only.
    aligned: bool = False
    #: The archives lack the set's top folder: they are extracted into it.
    extract_into_folder: bool = False
    #: Side of the (square) images, checked when decoding an aligned set.
    image_size: int = 0


FORMATS: dict[str, CorruptedFormat] = {
    "digits": CorruptedFormat("digits-C", "npy", "cifar10", ()),
    # The shape-texture world's 32-pixel images take CIFAR-10-C's table.
    "shapes": CorruptedFormat("shapes-C", "npy", "cifar10", ()),
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
    # Zenodo 2235448; one archive per category (noise: gaussian, shot, impulse; blur: defocus, glass,
    # motion, zoom; weather: snow, frost, fog, brightness; digital: contrast, elastic, pixelate,
    # jpeg; extra: speckle, gaussian blur, spatter, saturate). The record publishes no MD5s: these
    # are the ones third-party loaders check. Images: Resize(256) + CenterCrop(224) of the 50,000
    # ILSVRC2012 validation images, JPEG quality 85.
    "imagenet": CorruptedFormat(
        "ImageNet-C", "jpeg", "imagenet",
        tuple((f"https://zenodo.org/records/2235448/files/{name}", md5) for name, md5 in (
            ("blur.tar", "2d8e81fdd8e07fef67b9334fa635e45c"),
            ("digital.tar", "89157860d7b10d5797849337ca2e5c03"),
            ("extra.tar", "d492dfba5fc162d8ec2c3cd8ee672984"),
            ("noise.tar", "e80562d7f6c3f8834afb1ecf27252745"),
            ("weather.tar", "33ffea4db4d93fe4a428c40a6ce0c25d"),
        )),
        aligned=True, extract_into_folder=True, image_size=224,
    ),
}


def corrupted_format(dataset: str) -> CorruptedFormat:
    """The -C format of ``dataset``, or a one-line error naming the choices."""
    if dataset not in FORMATS:
        raise SelrobError(f"no corrupted test set for dataset {dataset!r}; choose one of: {', '.join(FORMATS)}")
    return FORMATS[dataset]


def default_source(dataset: str) -> str:
    """``generated``, or ``official`` for a set selrob cannot generate (ImageNet-C)."""
    return "official" if corrupted_format(dataset).aligned else "generated"


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
    target = root / fmt.folder if fmt.extract_into_folder else root
    for url, md5 in fmt.downloads:
        archive = download_file(url, root / url.rsplit("/", 1)[1], md5, progress)
        safe_extract(archive, target)
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
        # An ImageNet-C cell lists 50,000 files: listed once per object, not per batch read.
        self._listings: dict[Path, dict[int, tuple[Path, int]]] = {}
        if source == "generated" and self.format.aligned:
            raise SelrobError(f"{self.format.folder} is official only (selrob does not generate it); use source "
                              f"'official' after `selrob data download-c {dataset}{self.data_flag}`")
        if not self.path.is_dir():
            hint = (f"`selrob data make-c --dataset {dataset}{self.data_flag}`" if source == "generated"
                    else f"`selrob data download-c {dataset}{self.data_flag}`")
            raise SelrobError(f"no {source} corrupted set for {dataset} in {self.path}; make it with {hint}")

    def corruptions(self) -> list[str]:
        """The finished corruptions present, in the release's order."""
        if self.format.aligned:
            return list(self._corruption_dirs())
        return finished_corruptions(self.path, self.format.layout)

    def _corruption_dirs(self) -> dict[str, Path]:
        """Each corruption folder of an aligned set, at its top or one level down (below a category
        folder such as ``blur/``), in the release's order."""
        subfolders = sorted(p for p in self.path.iterdir()
                            if p.is_dir() and not p.name.startswith(".") and p.name not in (CACHE, *RELEASE_CORRUPTIONS))
        found: dict[str, Path] = {}
        for name in RELEASE_CORRUPTIONS:
            places = [folder for folder in (self.path / name, *(sub / name for sub in subfolders)) if folder.is_dir()]
            if len(places) > 1:
                raise SelrobError(f"{name} is in {len(places)} places ({', '.join(map(str, places))}); keep one")
            if places:
                found[name] = places[0]
        return found

    def _corruption_dir(self, corruption: str) -> Path:
        if self.format.aligned:
            found = self._corruption_dirs()
            if corruption not in found:
                raise SelrobError(f"{self.path} has no {corruption} folder (looked at its top and one level down)")
            return found[corruption]
        return self.path / corruption

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

    def load(self, corruption: str, severity: int, indices: Sequence[int] | None = None) -> ImageSet:
        """Images and labels of one (corruption, severity) cell.

        ``npy`` sets and ImageNet-C are in the clean test set's order (ImageNet-C: image i is made
        from validation file number i + 1); Tiny-ImageNet-C is in class-folder order.

        Args:
            indices: only these images of the cell (0-based positions in that order, any order,
                repeats allowed); ``None`` for all. An ``npy`` set reads only their rows of the
                memory map, ImageNet-C decodes only their files.
        """
        if corruption not in RELEASE_CORRUPTIONS:
            raise SelrobError(f"unknown corruption {corruption!r}; choose one of: {', '.join(RELEASE_CORRUPTIONS)}")
        if severity not in SEVERITY_LEVELS:
            raise SelrobError(f"severity must be 1..5, got {severity}")
        if self.format.aligned:
            images, labels = self._aligned_cell(corruption, severity, indices)
        else:
            all_images, all_labels = self._all_severities(corruption)
            per = len(all_labels) // len(SEVERITY_LEVELS)
            rows = slice((severity - 1) * per, severity * per)
            if indices is None:
                images, labels = np.ascontiguousarray(all_images[rows]), all_labels[rows]
            else:
                chosen = _positions(indices, per, f"{corruption} severity {severity} of {self.path}")
                images, labels = all_images[rows][chosen], all_labels[rows][chosen]  # reads only those rows
        return ImageSet(
            torch.from_numpy(images.transpose(0, 3, 1, 2).copy()),
            torch.from_numpy(labels.astype(np.int64)),
        )

    def cell_batches(self, corruption: str, severity: int, limit: int | None = None,
                     batch: int = 1000) -> Iterator[ImageSet]:
        """One (corruption, severity) cell's first ``limit`` images (all for ``None``), in order: an
        ImageNet-C cell in batches of ``batch`` decoded images (a whole cell is 7.5 GB), any other
        set in one piece."""
        if not self.format.aligned:
            yield self.load(corruption, severity).head(limit)
            return
        count = max(self._numbered_files(self._corruption_dir(corruption) / str(severity)), default=0)
        stop = count if limit is None else min(limit, count)
        for start in range(0, stop, batch):
            yield self.load(corruption, severity, range(start, min(start + batch, stop)))

    def _aligned_cell(self, corruption: str, severity: int, indices: Sequence[int] | None) -> tuple[np.ndarray, np.ndarray]:
        """ImageNet-C: the files of one cell by validation file number, decoded in threads."""
        cell = self._corruption_dir(corruption) / str(severity)
        files = self._numbered_files(cell)
        count = max(files, default=0)
        chosen = np.arange(count) if indices is None else _positions(indices, count, str(cell))
        picked = []
        for position in chosen.tolist():
            number = position + 1
            if number not in files:
                raise SelrobError(f"{cell}/<wnid>/ILSVRC2012_val_{number:08d}.JPEG (image {position}) is missing: "
                                  f"no class folder holds it")
            picked.append(files[number])
        size = self.format.image_size
        with ThreadPoolExecutor() as pool:  # PIL releases the GIL while decoding
            decoded = list(pool.map(lambda item: _decode_square(item[0], size), picked))
        images = np.stack(decoded) if decoded else np.empty((0, size, size, 3), dtype=np.uint8)
        return images, np.asarray([label for _, label in picked], dtype=np.int64)

    def _numbered_files(self, cell: Path) -> dict[int, tuple[Path, int]]:
        """Validation file number -> (path, class index from its wnid folder) of one cell."""
        if cell in self._listings:
            return self._listings[cell]
        if not cell.is_dir():
            raise SelrobError(f"{cell} is missing")
        label_of = {wnid: label for label, wnid in enumerate(self.class_ids())}
        files: dict[int, tuple[Path, int]] = {}
        for folder in sorted(p for p in cell.iterdir() if p.is_dir()):
            if folder.name not in label_of:
                raise SelrobError(f"{folder} is not one of the set's {len(label_of)} classes "
                                  f"(the wnid folders of <corruption>/1)")
            for path in folder.iterdir():
                if path.name.startswith("."):
                    continue
                match = VAL_NAME.fullmatch(path.name)
                if match is None:
                    raise SelrobError(f"{path} is not a validation JPEG (ILSVRC2012_val_<8 digits>.JPEG)")
                number = int(match.group(1))
                if number in files:
                    raise SelrobError(f"{path} and {files[number][0]} are the same validation image; keep one")
                files[number] = (path, label_of[folder.name])
        self._listings[cell] = files
        return files

    def _all_severities(self, corruption: str) -> tuple[np.ndarray, np.ndarray]:
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
        listings = [sorted(p.name for p in (self._corruption_dir(name) / "1").iterdir() if p.is_dir())
                    for name in self.corruptions() if (self._corruption_dir(name) / "1").is_dir()]
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


def _positions(indices: Sequence[int], count: int, where: str) -> np.ndarray:
    """``indices`` as int64 positions, each in 0..count-1, or a one-line error naming the bad one."""
    positions = np.asarray(indices)
    if positions.ndim != 1 or (positions.size and not np.issubdtype(positions.dtype, np.integer)):
        raise SelrobError(f"indices must be a sequence of integers, got {positions.dtype} of shape {positions.shape}")
    bad = positions[(positions < 0) | (positions >= count)]
    if bad.size:
        raise SelrobError(f"index {int(bad[0])} is out of range: {where} holds {count} images (0..{count - 1})")
    return positions.astype(np.int64)


def _decode_square(path: Path, size: int) -> np.ndarray:
    """One JPEG as uint8 RGB (size, size, 3), with errors that name the file."""
    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (OSError, SyntaxError) as err:  # PIL's errors for a missing, broken or foreign file
        raise SelrobError(f"cannot read {path}: {err}") from None
    if array.shape != (size, size, 3):
        raise SelrobError(f"{path} is {array.shape[1]}x{array.shape[0]}, expected {size}x{size}")
    return array
