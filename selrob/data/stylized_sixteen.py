"""model-vs-human's ready 16-class stylized set: 800 ImageNet validation images whose texture was
replaced by style transfer, 50 per category of Geirhos et al.'s 16, evaluated with the 16-class
mapping (the real-data path of the second paper's Table 3e on ImageNet, in place of running AdaIN
on ImageNet-CL).

Archive: :data:`URL` (release v0.1 of ``bethgelab/model-vs-human``, dataset ``stylized``). It
unpacks as model-vs-human's datasets with sessions do (``contains_sessions=True`` in
``modelvshuman/datasets/stylized.py``): ``stylized/dnn/session-1/<file>.png``, one flat folder of
224x224 RGB PNGs named ``<NNNN>_sty_dnn_<condition>_<category>_<n>_<lookup>.png``, e.g.
``0350_sty_dnn_0_car_00_car-0149-ILSVRC2012-val-00049427.png``. An image's category is the fifth
``_``-separated field of its name (model-vs-human's ``InfoMappingWithSessions``), one of
:data:`~selrob.data.cue_conflict_stimuli.CATEGORIES`; ``NNNN`` runs 0001..0800 through the
categories in sorted order, so sorted names are sorted by category.

No checksum is published. :func:`download` checks the structure instead (:func:`structure_problems`:
the one folder, names of the 16 categories only, 50 images each, 800 in all, each decoding to
224x224x3) and records the archive's SHA-256 in ``stylized/selrob-download.json``: trust on first
use. A later download whose archive has another SHA-256 is refused (not adopted with a warning):
results computed on the first set would silently mix with the second; deleting the folder accepts
the new one.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from selrob.data.cue_conflict_stimuli import CATEGORIES, SIZE, decode
from selrob.data.download import file_digest, safe_extract
from selrob.errors import SelrobError
from selrob.io import atomic_write, read_json, write_json
from selrob.progress import progress_bar

FOLDER = "stylized"
URL = "https://github.com/bethgelab/model-vs-human/releases/download/v0.1/stylized.tar.gz"
ARCHIVE = "stylized.tar.gz"
#: Where the images lie below :data:`FOLDER` (model-vs-human: subject ``dnn``, one session).
IMAGES = "dnn/session-1"
#: The trust-on-first-use record below :data:`FOLDER`: URL, archive SHA-256 and size, image count.
RECORD = "selrob-download.json"
IMAGES_PER_CATEGORY = 50
COMMAND = "selrob data download stylized-16"

_NAME = re.compile(r"(?P<number>\d+)_(?P<experiment>[a-z]+)_dnn_(?P<condition>[^_]+)_(?P<category>[a-z]+)_"
                   r"(?P<n>\d+)_(?P<lookup>[^_/]+)\.png")


class StylizedSet(NamedTuple):
    """The decoded set, in sorted file order: uint8 (N, 3, 224, 224) ``images``, each image's
    category name and its path below :data:`FOLDER`."""

    images: torch.Tensor
    categories: list[str]
    files: list[str]


def how_to_get(root: Path) -> str:
    """The command that downloads the set into ``root``, said wherever it is missing."""
    return f"download it with `{COMMAND} --data-dir {root}`"


_VALIDATION = re.compile(r"ILSVRC2012-val-(\d{8})")


def validation_position(name: str) -> int | None:
    """The position in the ImageNet validation set (file number - 1) of the image a stylized file
    was made from, which its name carries (``...-ILSVRC2012-val-00049427.png`` -> 49426), or
    ``None`` when it does not."""
    match = _VALIDATION.search(name)
    return None if match is None else int(match[1]) - 1


def category_of(name: str) -> str:
    """The category of a file name of the set, e.g. ``0350_sty_dnn_0_car_00_car-0149-ILSVRC2012-val-00049427.png``
    -> ``"car"``."""
    match = _NAME.fullmatch(name)
    if match is None or match["category"] not in CATEGORIES:
        raise SelrobError(f"{name!r} is not a stylized image name <NNNN>_sty_dnn_<condition>_<category>_<n>_<id>.png "
                          "of the 16 categories")
    return match["category"]


def _listed(names: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _images(folder: Path) -> list[Path]:
    """The PNGs of the set's image folder below ``folder``, sorted by name."""
    return sorted((folder / IMAGES).glob("*.png"))


def structure_problems(folder: Path, per_category: int = IMAGES_PER_CATEGORY, decode_images: bool = True) -> list[str]:
    """What is wrong with the set in ``folder`` (a ``stylized`` folder), one phrase per problem, or
    ``[]``: the image folder, entries that are not image names of the 16 categories, categories
    missing or with another number of images than ``per_category``, and (``decode_images``) images
    that do not decode to 224x224x3. Paths are said below ``folder``'s parent, so that the phrases
    fit a staging folder as well as the data folder."""
    folder = Path(folder)
    images, shown = folder / IMAGES, f"{FOLDER}/{IMAGES}"
    if not images.is_dir():
        found = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        return [f"no folder {shown}" + (f" (found {_listed(found)} in {FOLDER}/)" if found else "")]
    problems = []
    counts = dict.fromkeys(CATEGORIES, 0)
    strangers = []
    for entry in sorted(images.iterdir()):
        try:
            if not entry.is_file():
                raise SelrobError("not a file")
            counts[category_of(entry.name)] += 1
        except SelrobError:
            strangers.append(entry.name)
    if strangers:
        problems.append(f"{len(strangers)} entries of {shown} are not stylized image names: {_listed(strangers)}")
    if missing := [category for category, count in counts.items() if count == 0]:
        problems.append(f"no images of {len(missing)} categories: {_listed(missing, 16)}")
    if wrong := [f"{category} {count}" for category, count in counts.items() if 0 < count != per_category]:
        problems.append(f"expected {per_category} images per category, found {_listed(wrong, 16)}")
    if decode_images:
        undecodable = []
        for path in _images(folder):
            try:
                decode(path, "as-is")  # converts to RGB and refuses any size but 224x224
            except SelrobError as err:
                undecodable.append(str(err).replace(str(path), path.name))
        if undecodable:
            problems.append(f"{len(undecodable)} images of {shown} are not {SIZE}x{SIZE} RGB: {_listed(undecodable)}")
    return problems


def read_record(root: Path) -> dict[str, Any] | None:
    """The trust-on-first-use record of ``<root>/stylized`` (``url``, ``sha256``, ``bytes``,
    ``images``), or ``None`` when there is none (a set unpacked by hand)."""
    path = Path(root) / FOLDER / RECORD
    return read_json(path) if path.is_file() else None


def unavailable_reason(root: Path, per_category: int = IMAGES_PER_CATEGORY) -> str | None:
    """Why the set cannot be loaded from ``<root>/stylized`` (one line: what is missing and the
    command to get it), or ``None``. Checks names and counts only; images are decoded on loading."""
    folder = Path(root) / FOLDER
    if not folder.is_dir():
        return f"the stylized 16-class set is not in {folder}; {how_to_get(root)}"
    if problems := structure_problems(folder, per_category, decode_images=False):
        return f"the stylized 16-class set in {folder} is incomplete: {'; '.join(problems)}; {how_to_get(root)}"
    return None


def _fetch(url: str, destination: Path, root: Path, progress: bool) -> None:
    """Download ``url`` to ``destination`` atomically, unverified: no checksum is published, the
    structure is checked after extraction instead."""
    try:
        with urllib.request.urlopen(url) as response:
            total = int(response.headers.get("Content-Length") or 0) or None

            def copy(handle: Any) -> None:
                with progress_bar(total=total, unit="B", unit_scale=True, desc=destination.name,
                                  disable=not progress) as bar:
                    while chunk := response.read(1 << 20):
                        handle.write(chunk)
                        bar.update(len(chunk))

            atomic_write(destination, copy)
    except OSError as err:
        raise SelrobError(f"could not download {url}: {err}; download it yourself and place it at {destination} "
                          f"(no checksum is published: its SHA-256 is recorded on first use), then run "
                          f"`{COMMAND} --data-dir {root}`") from None


def download(root: Path, progress: bool = True, url: str = URL, per_category: int = IMAGES_PER_CATEGORY) -> Path:
    """Download, check and unpack the set into ``<root>/stylized``; returns that folder.

    The archive is kept at ``<root>/stylized.tar.gz`` (a copy placed there by hand is used instead
    of downloading). It is extracted safely (:func:`selrob.data.download.safe_extract`) to a staging
    folder and adopted only when :func:`structure_problems` finds nothing, with the record of its
    SHA-256. An archive whose SHA-256 differs from the recorded one is refused. With the set intact,
    its record present and no archive, nothing is downloaded.
    """
    root = Path(root)
    folder, archive = root / FOLDER, root / ARCHIVE
    record = read_record(root)
    intact = record is not None and not structure_problems(folder, per_category, decode_images=False)
    if not archive.is_file():
        if intact:
            return folder
        _fetch(url, archive, root, progress)
    digest = file_digest(archive, "sha256")
    if record is not None and record.get("sha256") != digest:
        raise SelrobError(f"{archive} has SHA-256 {digest}, but the set in {folder} was unpacked from one with "
                          f"SHA-256 {record.get('sha256')} (recorded on first download: no checksum is published, "
                          f"so the first archive is trusted); delete {folder} to accept the new archive, or "
                          f"{archive} to keep the set")
    if intact:
        return folder
    staging = Path(tempfile.mkdtemp(dir=root, prefix=".stylized-"))
    try:
        safe_extract(archive, staging)
        if problems := structure_problems(staging / FOLDER, per_category):
            raise SelrobError(f"{archive} (SHA-256 {digest}) is not model-vs-human's stylized set: "
                              f"{'; '.join(problems[:3])}; delete it and run `{COMMAND} --data-dir {root}` again")
        images = len(_images(staging / FOLDER))
        write_json(staging / FOLDER / RECORD, {"url": url, "sha256": digest, "bytes": archive.stat().st_size,
                                               "images": images})
        if folder.exists():
            shutil.rmtree(folder)
        (staging / FOLDER).replace(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def load_stylized(root: Path, per_category: int = IMAGES_PER_CATEGORY, progress: bool = False) -> StylizedSet:
    """All images of ``<root>/stylized`` in sorted file order, as they are (224 px, as model-vs-human
    feeds them), with each image's category (from its name) and path below :data:`FOLDER`."""
    root = Path(root)
    if (reason := unavailable_reason(root, per_category)) is not None:
        raise SelrobError(reason)
    folder = root / FOLDER
    paths = _images(folder)
    with ThreadPoolExecutor() as pool:  # PIL releases the GIL while decoding
        decoded = list(progress_bar(pool.map(lambda p: decode(p, "as-is"), paths), total=len(paths),
                                    desc="decoding stylized images", disable=not progress))
    images = torch.from_numpy(np.stack(decoded).transpose(0, 3, 1, 2).copy())
    return StylizedSet(images, [category_of(p.name) for p in paths], [p.relative_to(folder).as_posix() for p in paths])
