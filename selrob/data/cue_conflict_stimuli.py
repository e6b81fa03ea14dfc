"""Geirhos et al. (2019)'s cue-conflict stimuli: 1,280 style-transfer images whose shape is one of
16 ImageNet categories and whose texture is another (the second paper's Table 2 on ImageNet models).

Primary copy: ``rgeirhos/texture-vs-shape``, ``stimuli/style-transfer-preprocessed-512/<shape>/``.
The packaged manifest ``resources/cue-conflict-sha256.tsv`` lists every file of a snapshot of that
repository (commit ccd0c01d) with its size, SHA-256, shape, texture and conflict flag: 1,280 PNGs
of 224x224 RGB, 80 per shape category, 136,489,547 bytes; the 80 with shape == texture (5 per
category) are no conflict, leaving 1,200. File names are ``<shape><i>-<texture><j>.png`` (i in
1..10, j in 1..3) under the shape's folder.

On disk after :func:`download`: ``<root>/cue-conflict/<shape>/<file>.png``, every file verified
against the manifest (:func:`verify_stimuli`). Two ways to get them (``method``):

* ``"files"`` (default): each file from the primary copy's raw URL, checked against its SHA-256
  before it is written (:func:`selrob.data.download.download_file`); files already verified are
  skipped, so it also completes a partial folder.
* ``"archive"``: model-vs-human's release archive ``cue-conflict.tar.gz`` (one request; no
  published checksum), extracted safely (:func:`selrob.data.download.safe_extract`) to a staging
  folder, then adopted file by file: a file is kept only when its size and SHA-256 match the
  manifest entry of the same ``<shape>/<file>.png`` (a prefix up to the last ``_`` is dropped,
  since model-vs-human names images ``XXX_dog10-bird2.png`` in places). What is missing or
  differs is reported; ``"files"`` fetches the rest.

An archive placed at ``<root>/cue-conflict.tar.gz`` by hand is adopted by either method.

:func:`load_stimuli` decodes them as uint8 (N, 3, 224, 224) with shape and texture category
indices (into :data:`CATEGORIES`), in one of two preprocessings (:data:`PREPROCESSING`).
"""

from __future__ import annotations

import csv
import re
import shutil
import tempfile
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from selrob import paths
from selrob.data.base import ImageSet
from selrob.data.download import download_file, empty_folders_removed, file_digest, safe_extract
from selrob.errors import SelrobError
from selrob.io import atomic_write, short_hash
from selrob.progress import progress_bar

FOLDER = "cue-conflict"
RAW_URL = ("https://raw.githubusercontent.com/rgeirhos/texture-vs-shape/master/stimuli/"
           "style-transfer-preprocessed-512/{relpath}")
ARCHIVE_URL = "https://github.com/bethgelab/model-vs-human/releases/download/v0.1/cue-conflict.tar.gz"
ARCHIVE = "cue-conflict.tar.gz"
#: The packaged manifest (package data, see pyproject.toml), read when no other is given.
MANIFEST = paths.PACKAGE_DIR / "data" / "resources" / "cue-conflict-sha256.tsv"
MANIFEST_COLUMNS = ["relpath", "bytes", "sha256", "shape", "texture", "is_conflict"]
SIZE = 224
#: Geirhos et al.'s 16 categories, sorted: category indices of labels and decisions refer to this.
CATEGORIES: tuple[str, ...] = ("airplane", "bear", "bicycle", "bird", "boat", "bottle", "car", "cat", "chair",
                               "clock", "dog", "elephant", "keyboard", "knife", "oven", "truck")
#: How images reach a model. Texture-vs-shape issue #26 measured the difference (shape bias of
#: torchvision models with / without the resize): ResNet-50 22.2 / 22.1 %, AlexNet 26.3 / 25.3 %,
#: VGG-16 10.7 / 9.2 %.
PREPROCESSING: dict[str, str] = {
    "as-is": "the 224 px images as they are (model-vs-human)",
    "resize-crop": "Resize(256, bilinear) + CenterCrop(224) (the paper's repository, anguyen8/shape-bias)",
}
#: The paper's repository's choice.
DEFAULT_PREPROCESSING = "resize-crop"


def check_preprocessing(preprocessing: str) -> str:
    """``preprocessing`` if it is a key of :data:`PREPROCESSING`, else a one-line error."""
    if preprocessing not in PREPROCESSING:
        raise SelrobError(f"unknown cue-conflict preprocessing {preprocessing!r}; choose one of: {', '.join(PREPROCESSING)}")
    return preprocessing


_NAME = re.compile(r"(?P<shape>[a-z]+)(?P<i>\d+)-(?P<texture>[a-z]+)(?P<j>\d+)\.png")


@dataclass(frozen=True)
class Stimulus:
    """One manifest entry: where the file lies below the folder, its size, SHA-256 and cues."""

    relpath: str
    size: int
    sha256: str
    shape: str
    texture: str

    @property
    def conflict(self) -> bool:
        """Shape and texture differ (the 80 images with shape == texture are controls)."""
        return self.shape != self.texture


def how_to_get(root: Path) -> str:
    """The command that downloads the stimuli into ``root``, said wherever they are missing."""
    return f"download them with `selrob data download cue-conflict --data-dir {root}`"


def parse_name(name: str) -> tuple[str, str]:
    """``(shape, texture)`` of a file name ``<shape><i>-<texture><j>.png``, e.g.
    ``airplane1-bicycle2.png`` -> ``("airplane", "bicycle")``."""
    match = _NAME.fullmatch(name)
    if match is None or match["shape"] not in CATEGORIES or match["texture"] not in CATEGORIES:
        raise SelrobError(f"{name!r} is not a cue-conflict file name <shape><i>-<texture><j>.png of the 16 categories")
    return match["shape"], match["texture"]


def read_manifest(path: Path | None = None) -> tuple[Stimulus, ...]:
    """The stimuli of the manifest at ``path`` (default: :data:`MANIFEST`), in its order.

    Every row is checked against its name: the folder is the shape, the shape and texture columns
    are those of :func:`parse_name`, and ``is_conflict`` says whether they differ.
    """
    path = MANIFEST if path is None else Path(path)
    rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines(), delimiter="\t"))
    if not rows or rows[0] != MANIFEST_COLUMNS or any(len(row) != len(MANIFEST_COLUMNS) for row in rows):
        raise SelrobError(f"manifest {path} must have the columns {', '.join(MANIFEST_COLUMNS)}")
    stimuli = []
    for relpath, size, sha256, shape, texture, is_conflict in rows[1:]:
        folder, _, name = relpath.partition("/")
        stimulus = Stimulus(relpath, int(size), sha256, shape, texture)
        if parse_name(name) != (shape, texture) or folder != shape or is_conflict != str(int(stimulus.conflict)):
            raise SelrobError(f"manifest row {relpath} disagrees with its name: shape {shape}, texture {texture}, "
                              f"is_conflict {is_conflict}")
        stimuli.append(stimulus)
    return tuple(stimuli)


def manifest_fingerprint(manifest: Sequence[Stimulus]) -> str:
    """:func:`selrob.io.short_hash` of the files and their SHA-256: what cached decisions are keyed by."""
    return short_hash("\n".join(f"{s.relpath}:{s.sha256}" for s in manifest))


def _difference(path: Path, stimulus: Stimulus) -> str | None:
    """Why the file at ``path`` is not ``stimulus`` (size first: it needs no read), or ``None``."""
    size = path.stat().st_size
    if size != stimulus.size:
        return f"{size} bytes, expected {stimulus.size}"
    digest = file_digest(path, "sha256")
    return None if digest == stimulus.sha256 else f"SHA-256 {digest}, expected {stimulus.sha256}"


def _listed(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


@dataclass(frozen=True)
class StimuliReport:
    """The outcome of :func:`verify_stimuli`: which manifest files are missing, which differ (and
    how), and which files the folder has beyond the manifest (not used; listed for information)."""

    folder: Path
    expected: int
    missing: tuple[str, ...]
    different: tuple[tuple[str, str], ...]
    unexpected: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.different

    @property
    def verified(self) -> int:
        return self.expected - len(self.missing) - len(self.different)

    def summary(self) -> str:
        """One line: how many files are verified, then the missing and differing ones by name."""
        parts = [f"{self.verified} of {self.expected} cue-conflict files in {self.folder} verified"]
        if self.missing:
            parts.append(f"{len(self.missing)} missing: {_listed(self.missing)}")
        if self.different:
            parts.append(f"{len(self.different)} differ: {_listed([f'{p} ({why})' for p, why in self.different])}")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} not in the manifest: {_listed(self.unexpected)}")
        return "; ".join(parts)


def verify_stimuli(root: Path, manifest: Sequence[Stimulus] | None = None) -> StimuliReport:
    """Check ``<root>/cue-conflict`` file by file (size and SHA-256) against ``manifest``
    (default: the packaged one)."""
    manifest = read_manifest() if manifest is None else manifest
    folder = Path(root) / FOLDER
    missing, different = [], []
    for stimulus in manifest:
        path = folder / stimulus.relpath
        if not path.is_file():
            missing.append(stimulus.relpath)
        elif (why := _difference(path, stimulus)) is not None:
            different.append((stimulus.relpath, why))
    listed = {s.relpath for s in manifest}
    present = sorted(p.relative_to(folder).as_posix() for p in folder.glob("*/*.png")) if folder.is_dir() else []
    return StimuliReport(folder, len(manifest), tuple(missing), tuple(different),
                         tuple(p for p in present if p not in listed))


def _fetch(url: str, destination: Path) -> None:
    """Download ``url`` to ``destination`` atomically, unverified (the archive has no published
    checksum: its files are verified one by one instead)."""
    try:
        with urllib.request.urlopen(url) as response:
            atomic_write(destination, lambda handle: shutil.copyfileobj(response, handle, 1 << 20))
    except OSError as err:
        raise SelrobError(f"could not download {url}: {err}; download it yourself and place it at {destination}, "
                          "then run the same command") from None


def _adopt_archive(archive: Path, folder: Path, manifest: Sequence[Stimulus]) -> None:
    """Move the archive's files that match their manifest entry into ``folder``."""
    by_relpath = {s.relpath: s for s in manifest}
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".cue-conflict-"))
    try:
        try:
            safe_extract(archive, staging)
        except SelrobError as err:
            raise SelrobError(f"{err}; delete {archive} or replace it with {ARCHIVE_URL}, then run the same "
                              "command") from None
        for path in sorted((staging / FOLDER).glob("*/*.png")):
            # model-vs-human may prefix names (``XXX_dog10-bird2.png``): the manifest's name follows the last "_".
            stimulus = by_relpath.get(f"{path.parent.name}/{path.name.rsplit('_', 1)[-1]}")
            if stimulus is not None and _difference(path, stimulus) is None:
                (folder / stimulus.relpath).parent.mkdir(parents=True, exist_ok=True)
                path.replace(folder / stimulus.relpath)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _download_files(folder: Path, manifest: Sequence[Stimulus], url: str, progress: bool) -> None:
    # The shape folders exist before the threads start, so no download_file call removes one
    # another thread is writing into when its own download fails.
    for shape in {s.shape for s in manifest}:
        (folder / shape).mkdir(parents=True, exist_ok=True)

    def fetch(stimulus: Stimulus) -> Path:
        return download_file(url.format(relpath=stimulus.relpath), folder / stimulus.relpath, stimulus.sha256,
                             progress=False)

    with ThreadPoolExecutor(max_workers=8) as pool:  # 1,280 small requests: latency-bound
        for _ in progress_bar(pool.map(fetch, manifest), total=len(manifest), desc="cue-conflict stimuli",
                              disable=not progress):
            pass


def download(root: Path, method: str = "files", manifest: Sequence[Stimulus] | None = None,
             url: str | None = None, progress: bool = True) -> Path:
    """Download the stimuli into ``<root>/cue-conflict`` and verify them; returns that folder.

    ``method`` is ``"files"`` (one raw file at a time, each SHA-256-checked) or ``"archive"``
    (model-vs-human's archive, kept at ``<root>/cue-conflict.tar.gz``). Either way an archive
    placed at ``<root>/cue-conflict.tar.gz`` by hand is adopted first, and ``"files"`` then fetches
    only what it lacked. ``url`` overrides :data:`RAW_URL` (a template with ``{relpath}``) or
    :data:`ARCHIVE_URL`. Raises with :meth:`StimuliReport.summary` when files are still missing or
    differ afterwards. A failed download leaves no folder it made empty; the files it verified stay,
    so the same call resumes.
    """
    if method not in ("files", "archive"):
        raise SelrobError(f"unknown download method {method!r}; choose files or archive")
    root = Path(root)
    manifest = read_manifest() if manifest is None else manifest
    folder = root / FOLDER
    archive = root / ARCHIVE
    with empty_folders_removed(*(folder / shape for shape in {s.shape for s in manifest})):
        if method == "archive" and not archive.is_file():
            _fetch(url or ARCHIVE_URL, archive)
        if archive.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            _adopt_archive(archive, folder, manifest)
        if method == "files":
            _download_files(folder, manifest, url or RAW_URL, progress)
    report = verify_stimuli(root, manifest)
    if not report.ok:
        raise SelrobError(f"{report.summary()}; the method 'files' fetches each missing or differing file")
    return folder


@dataclass(frozen=True)
class CueConflictStimuli:
    """The decoded stimuli: ``data`` holds the images (uint8, N x 3 x 224 x 224) with the shape
    category as label; ``textures`` the texture category (both index :data:`CATEGORIES`);
    ``files`` the manifest's ``<shape>/<file>.png`` per image."""

    data: ImageSet
    textures: torch.Tensor
    files: tuple[str, ...]
    preprocessing: str

    @property
    def shapes(self) -> torch.Tensor:
        return self.data.labels

    @property
    def conflict(self) -> torch.Tensor:
        """True where shape and texture differ (1,200 of the 1,280)."""
        return self.data.labels != self.textures

    def __len__(self) -> int:
        return len(self.data)


def decode(path: Path, preprocessing: str) -> np.ndarray:
    """One stimulus as uint8 (224, 224, 3) after ``preprocessing`` (a key of :data:`PREPROCESSING`)."""
    try:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
    except (OSError, SyntaxError) as err:
        raise SelrobError(f"cannot read {path}: {err}") from None
    if preprocessing == "resize-crop":  # on the PIL image, as torchvision's transforms do in the paper's repository
        image = TF.center_crop(TF.resize(image, 256, interpolation=InterpolationMode.BILINEAR), SIZE)
    if image.size != (SIZE, SIZE):
        raise SelrobError(f"{path} is {image.size[0]}x{image.size[1]}, not {SIZE}x{SIZE}")
    return np.asarray(image, dtype=np.uint8)


def load_stimuli(root: Path, preprocessing: str = DEFAULT_PREPROCESSING, manifest: Sequence[Stimulus] | None = None,
                 progress: bool = False) -> CueConflictStimuli:
    """All stimuli of ``manifest`` (default: the packaged one) from ``<root>/cue-conflict``, in the
    manifest's order, verified first (decisions are cached by the manifest's fingerprint, so the
    files must be those it lists)."""
    check_preprocessing(preprocessing)
    manifest = read_manifest() if manifest is None else manifest
    folder = Path(root) / FOLDER
    if not folder.is_dir():
        raise SelrobError(f"cue-conflict stimuli not found in {folder}; {how_to_get(root)}")
    report = verify_stimuli(root, manifest)
    if not report.ok:
        raise SelrobError(f"{report.summary()}; {how_to_get(root)}")
    paths = [folder / s.relpath for s in manifest]
    with ThreadPoolExecutor() as pool:  # PIL releases the GIL while decoding
        decoded = list(progress_bar(pool.map(lambda p: decode(p, preprocessing), paths), total=len(paths),
                                    desc="decoding cue-conflict stimuli", disable=not progress))
    images = torch.from_numpy(np.stack(decoded).transpose(0, 3, 1, 2).copy())
    shapes, textures = (torch.tensor([CATEGORIES.index(getattr(s, cue)) for s in manifest]) for cue in ("shape", "texture"))
    return CueConflictStimuli(ImageSet(images, shapes), textures, tuple(s.relpath for s in manifest), preprocessing)
