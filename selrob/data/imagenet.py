"""The ImageNet (ILSVRC2012) validation set in torchvision's format, from the user's own files.

ImageNet cannot be downloaded without an image-net.org account, so selrob reads the two files
torchvision's ``ImageNet`` reads, placed by hand in ``<data>/imagenet/``:

* ``ILSVRC2012_img_val.tar`` (6.4 GB, MD5 ``29b22e2961454d5413ddabcf34fc5622``): 50,000 JPEGs
  ``ILSVRC2012_val_<8 digits>.JPEG``;
* ``ILSVRC2012_devkit_t12.tar.gz`` (MD5 ``fa75699e90414af021442c21a62c3abf``): its
  ``data/meta.mat`` lists the synsets (``ILSVRC2012_ID``, ``WNID``, ``num_children``, ...; the 1000
  classes are the leaves) and ``data/ILSVRC2012_validation_ground_truth.txt`` holds one
  ``ILSVRC2012_ID`` per validation image, in file-number order.

Class index = the wnid's position in sorted order, as in torchvision (``ImageFolder`` over wnid
folders) and so in its pretrained models; it differs from ``ILSVRC2012_ID - 1``.

The set is preprocessed once as torchvision's ``IMAGENET1K_V1`` eval transform does before
``ToTensor`` (the same for every zoo model): RGB, Resize(256) on the shorter side (PIL bilinear, antialiased),
CenterCrop(224). The result is a uint8 (N, 3, 224, 224) ``.npy`` file that is memory-mapped when
loaded, so the 7.5 GB of images never sit in RAM. The JPEGs are read straight out of the tar (no
6.4 GB extraction; an entry that is not a validation JPEG is refused), the small devkit is unpacked
with :func:`selrob.data.download.safe_extract`. Preprocessing writes chunk by chunk and resumes
from the last finished chunk after an interruption; its record, written last, marks it complete.

The model zoo (:mod:`selrob.zoo`) is evaluated on this set; training reads the ImageFolder tree
with :mod:`selrob.data.streaming` instead.
"""

from __future__ import annotations

import io
import os
import re
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from scipy.io import loadmat
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from selrob.data.base import DatasetInfo, ImageSet
from selrob.data.download import file_digest, safe_extract
from selrob.errors import SelrobError
from selrob.io import atomic_write, read_json, write_json
from selrob.progress import progress_bar

FOLDER = "imagenet"
VAL_ARCHIVE = "ILSVRC2012_img_val.tar"
VAL_MD5 = "29b22e2961454d5413ddabcf34fc5622"
DEVKIT_ARCHIVE = "ILSVRC2012_devkit_t12.tar.gz"
DEVKIT_MD5 = "fa75699e90414af021442c21a62c3abf"
DEVKIT_FOLDER = "ILSVRC2012_devkit_t12"
CACHE = "selrob-cache"
#: torchvision's IMAGENET1K_V1 eval transform (every zoo model's): Resize(256), CenterCrop(224).
RESIZE = 256
CROP = 224
#: Images preprocessed between two resume points.
CHUNK = 512
VAL_NAME = re.compile(r"ILSVRC2012_val_(\d{8})\.JPEG")

INFO = DatasetInfo(
    name="imagenet",
    num_classes=1000,
    in_channels=3,
    image_size=CROP,
    mean=(0.485, 0.456, 0.406),
    std=(0.229, 0.224, 0.225),
    hflip=True,
    crop_padding=0,  # ImageNet training uses random resized crops, not padded crops
)


def _missing_files_message(folder: Path) -> str | None:
    """What to get and where to put it, or ``None`` if both files are there."""
    missing = [name for name in (VAL_ARCHIVE, DEVKIT_ARCHIVE) if not (folder / name).is_file()]
    if not missing:
        return None
    return (f"ImageNet validation files missing: get {' and '.join(missing)} (ILSVRC2012, from image-net.org with "
            f"an account) and put them in {folder}")


def unavailable_reason(root: Path, resize: int = RESIZE, crop: int = CROP) -> str | None:
    """Why the validation set cannot be loaded from ``root`` (what to get and where), or ``None``
    when it is preprocessed already or its two files are there."""
    folder = Path(root) / FOLDER
    if (folder / CACHE / f"{_cache_stem(resize, crop)}.json").is_file():
        return None
    return _missing_files_message(folder)


def read_devkit(devkit: Path) -> tuple[list[str], np.ndarray]:
    """The sorted wnids (index = class) and the class of each validation image, in file-number order."""
    meta_path = devkit / "data" / "meta.mat"
    truth_path = devkit / "data" / "ILSVRC2012_validation_ground_truth.txt"
    try:
        synsets = loadmat(meta_path, squeeze_me=True)["synsets"]
        leaves = np.asarray(synsets["num_children"], dtype=np.int64) == 0
        ids = np.asarray(synsets["ILSVRC2012_ID"], dtype=np.int64)[leaves]
        id_wnids = np.asarray(synsets["WNID"], dtype=str)[leaves]
        truth = np.loadtxt(truth_path, dtype=np.int64, ndmin=1)
    except (OSError, KeyError, ValueError) as err:
        raise SelrobError(f"{devkit} is not an ILSVRC2012 devkit ({err})") from None
    wnids = sorted(id_wnids.tolist())
    class_of_wnid = {wnid: index for index, wnid in enumerate(wnids)}
    class_of_id = {int(i): class_of_wnid[str(w)] for i, w in zip(ids, id_wnids)}
    unknown = sorted(set(truth.tolist()) - set(class_of_id))
    if unknown:
        raise SelrobError(f"{truth_path} names ILSVRC2012 ids that {meta_path} has no leaf synset for: {unknown[:5]}")
    return wnids, np.asarray([class_of_id[i] for i in truth.tolist()], dtype=np.int64)


def preprocess_image(data: bytes, resize: int = RESIZE, crop: int = CROP) -> np.ndarray:
    """One encoded image as uint8 (3, crop, crop): RGB, shorter side resized to ``resize`` (PIL
    bilinear), centre crop; what torchvision's V1 eval transform gives before ``ToTensor``."""
    with Image.open(io.BytesIO(data)) as image:
        rgb = image.convert("RGB")  # a few validation images are greyscale or CMYK
    cropped = TF.center_crop(TF.resize(rgb, resize, interpolation=InterpolationMode.BILINEAR), crop)
    return np.asarray(cropped, dtype=np.uint8).transpose(2, 0, 1)


def _val_members(archive: tarfile.TarFile, path: Path, count: int) -> list[tarfile.TarInfo]:
    """The validation JPEGs ordered by file number, which must run 1..``count``; anything else is refused."""
    numbered = {}
    for member in archive.getmembers():
        match = VAL_NAME.fullmatch(member.name)
        if not member.isfile() or match is None:
            raise SelrobError(f"{path} holds {member.name!r}, not a validation JPEG (ILSVRC2012_val_<8 digits>.JPEG)")
        numbered[int(match.group(1))] = member
    if sorted(numbered) != list(range(1, count + 1)):
        raise SelrobError(f"{path} holds {len(numbered)} validation images, not the {count} numbered 1..{count} "
                          f"that the devkit's ground truth lists")
    return [numbered[number] for number in range(1, count + 1)]


def _read_member(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = archive.extractfile(member)
    assert handle is not None  # _val_members admits regular files only
    return handle.read()


def _preprocess_member(member: tarfile.TarInfo, data: bytes, resize: int, crop: int) -> np.ndarray:
    try:
        return preprocess_image(data, resize, crop)
    except (OSError, SyntaxError) as err:  # PIL's errors for a broken or foreign file
        raise SelrobError(f"cannot read {member.name} of the validation tar: {err}") from None


def _verify_md5(path: Path, expected: str) -> None:
    actual = file_digest(path, "md5")
    if actual != expected:
        raise SelrobError(f"{path} has MD5 {actual}, expected {expected}: not the published ILSVRC2012 file")


def _cache_stem(resize: int, crop: int) -> str:
    return f"val-r{resize}-c{crop}"


def prepare_val(
    root: Path,
    resize: int = RESIZE,
    crop: int = CROP,
    val_md5: str = VAL_MD5,
    devkit_md5: str = DEVKIT_MD5,
    progress: bool = True,
    chunk_size: int = CHUNK,
) -> Path:
    """Verify the two files (MD5) and preprocess the validation set into ``<root>/imagenet/selrob-cache/``
    once (resumable); returns the ImageNet folder. ``val_md5``/``devkit_md5`` replace the published
    checksums (tests use small archives)."""
    folder = Path(root) / FOLDER
    cache = folder / CACHE
    stem = _cache_stem(resize, crop)
    if (cache / f"{stem}.json").is_file():
        return folder
    message = _missing_files_message(folder)
    if message is not None:
        raise SelrobError(message)
    val_path, devkit_path = folder / VAL_ARCHIVE, folder / DEVKIT_ARCHIVE
    _verify_md5(devkit_path, devkit_md5)
    _verify_md5(val_path, val_md5)
    if not (folder / DEVKIT_FOLDER / "data" / "meta.mat").is_file():
        safe_extract(devkit_path, folder)
    wnids, labels = read_devkit(folder / DEVKIT_FOLDER)
    partial, resume_path = cache / f".{stem}-images.npy.partial", cache / f".{stem}-progress.json"
    shape = (len(labels), 3, crop, crop)
    cache.mkdir(parents=True, exist_ok=True)
    done = 0
    if partial.is_file() and resume_path.is_file():
        images = np.lib.format.open_memmap(partial, mode="r+")
        done = int(read_json(resume_path)["done"]) if images.shape == shape else 0
    if done == 0:
        images = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=shape)
    try:
        with tarfile.open(val_path) as archive, ThreadPoolExecutor() as pool, \
                progress_bar(total=len(labels), initial=done, desc="preprocessing ImageNet val", disable=not progress) as bar:
            members = _val_members(archive, val_path, len(labels))
            for start in range(done, len(members), chunk_size):
                chunk = members[start:start + chunk_size]
                encoded = [_read_member(archive, member) for member in chunk]  # the tar is read in one thread
                # PIL releases the GIL while decoding and resizing
                arrays = pool.map(lambda item: _preprocess_member(*item, resize, crop), zip(chunk, encoded))
                for offset, array in enumerate(arrays):
                    images[start + offset] = array
                images.flush()
                write_json(resume_path, {"done": start + len(chunk)})
                bar.update(len(chunk))
    except (tarfile.TarError, EOFError) as err:
        raise SelrobError(f"{val_path} is corrupt ({err})") from None
    del images  # closes the memory map before the rename
    os.replace(partial, cache / f"{stem}-images.npy")
    atomic_write(cache / f"{stem}-labels.npy", lambda handle: np.save(handle, labels))
    write_json(cache / f"{stem}.json", {"count": len(labels), "resize": resize, "crop": crop, "wnids": wnids,
                                        "val_md5": val_md5, "devkit_md5": devkit_md5})
    resume_path.unlink()
    return folder


def load_val(root: Path, resize: int = RESIZE, crop: int = CROP, **prepare: Any) -> ImageSet:
    """The validation set as an :class:`ImageSet` over the memory-mapped preprocessed images
    (preprocessed first if needed; ``prepare`` goes to :func:`prepare_val`)."""
    cache = prepare_val(Path(root), resize, crop, **prepare) / CACHE
    stem = _cache_stem(resize, crop)
    # Copy-on-write mapping: the tensor is writable as torch expects, yet nothing reaches the file.
    images = np.load(cache / f"{stem}-images.npy", mmap_mode="c", allow_pickle=False)
    labels = np.load(cache / f"{stem}-labels.npy", allow_pickle=False)
    return ImageSet(torch.from_numpy(images), torch.from_numpy(labels))

