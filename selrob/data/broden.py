"""The Broden probe dataset of Bau et al. (2017), *Network Dissection*, in its published on-disk format.

Broden ("broadly and densely labeled") merges ADE20K, Pascal-Context, Pascal-Part, OpenSurfaces, DTD
and synthetic colour images: 63,305 images labelled with concepts of six categories (color,
object, material, part, scene, texture). Two variants are published by the authors
(``CSAILVision/NetDissect-Lite``'s ``script/dlbroden.sh``), see :data:`DOWNLOADS`:

* ``broden1_224.zip``: 224x224 images, 112x112 segmentations (MD5 from a third-party script);
* ``broden1_227.zip``: 227x227 images (no published MD5, so selrob does not download it).

Unzipped, ``<root>/broden1_224/`` (or ``broden1_227/``) holds:

* ``index.csv``: one row per image, columns ``image, split, ih, iw, sh, sw`` (path below
  ``images/``, train/val split, image and segmentation height and width) followed by one column
  per category. A category field is empty, a ``;``-joined list of pixel-label PNG names (below
  ``images/``; each pixel's label number is ``R + 256 * G``, :func:`decode_pixel_labels`) or a
  ``;``-joined list of label numbers that cover the whole image (scene, texture);
* ``label.csv``: ``number, name, category, frequency, coverage, syns``; ``category`` reads
  ``cat(count);cat(count)`` since a label may belong to several categories. Number 0 is "-" (no label);
* ``category.csv``: ``name, first, last, count, frequency``;
* ``c_<category>.csv``: ``code, number, name, frequency, coverage`` per label of the category
  (coverage in whole images), which decides a label's primary category
  (:meth:`Labels.concepts`); and ``images/``.

:func:`read_labels`, :func:`read_index`, :func:`image_labels` and :func:`load_image` read it;
NetDissect's IoU statistics (thresholds, upsampling) are not computed here.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from selrob.data.download import download_file, safe_extract
from selrob.data.probe import Concepts, ImageLabels
from selrob.errors import SelrobError

BASE_URL = "http://netdissect.csail.mit.edu/data"
#: The unzipped folder of each variant (image size), below the data root.
FOLDERS: dict[int, str] = {224: "broden1_224", 227: "broden1_227"}
DEFAULT_VARIANT = 224
COMMAND = "selrob data download broden"


@dataclass(frozen=True)
class Download:
    """Where a variant's archive comes from and its MD5 (``None``: none is published)."""

    url: str
    archive: str
    md5: str | None


#: The MD5 of broden1_224.zip is the one a third-party download script checks; the authors
#: publish none, and none is known for broden1_227.zip.
DOWNLOADS: dict[int, Download] = {
    224: Download(f"{BASE_URL}/broden1_224.zip", "broden1_224.zip", "be13c292eaef3300da03f8d0e48eab1c"),
    227: Download(f"{BASE_URL}/broden1_227.zip", "broden1_227.zip", None),
}
INDEX_COLUMNS = ("image", "split", "ih", "iw", "sh", "sw")
LABEL_COLUMNS = ("number", "name", "category", "frequency", "coverage", "syns")
CATEGORY_COLUMNS = ("name", "first", "last", "count", "frequency")
CODE_COLUMNS = ("code", "number", "name", "frequency", "coverage")
#: The files :func:`unavailable_reason` requires in a variant's folder.
REQUIRED = ("index.csv", "label.csv", "category.csv", "images")
IMAGES = "images"
_CATEGORY = re.compile(r"(?P<name>[^;()]+)\((?P<count>\d+)\)")


def check_variant(variant: int) -> int:
    """``variant`` if it is a key of :data:`FOLDERS`, else a one-line error."""
    if variant not in FOLDERS:
        raise SelrobError(f"unknown Broden variant {variant!r}; choose one of: {', '.join(map(str, FOLDERS))}")
    return variant


def how_to_get(root: Path, variant: int = DEFAULT_VARIANT) -> str:
    """What to do when the variant's folder is missing, said wherever it is."""
    entry = DOWNLOADS[check_variant(variant)]
    if entry.md5 is None:
        return (f"download {entry.url} yourself (no published MD5, so selrob does not), unzip it and put "
                f"{FOLDERS[variant]}/ in {root}")
    return f"download it with `{COMMAND} --data-dir {root}`"


def _folder(root: Path, variant: int) -> Path:
    return Path(root) / FOLDERS[check_variant(variant)]


def unavailable_reason(root: Path, variant: int = DEFAULT_VARIANT) -> str | None:
    """Why Broden ``variant`` cannot be read from ``root`` (what is missing and how to get it), or
    ``None`` when its folder has :data:`REQUIRED` and each category's c_<category>.csv."""
    folder = _folder(root, variant)
    if not folder.is_dir():
        return f"the Broden probe set {FOLDERS[variant]} is not in {root}; {how_to_get(root, variant)}"
    missing = [name for name in REQUIRED if not (folder / name).exists()]
    if not missing:  # each category's code table, as category.csv lists them
        names = [row["name"] for row in _read_csv(folder / "category.csv", CATEGORY_COLUMNS)]
        missing = [f"c_{name}.csv" for name in names if not (folder / f"c_{name}.csv").is_file()]
    if missing:
        return f"the Broden probe set in {folder} is incomplete (missing {', '.join(missing)}); {how_to_get(root, variant)}"
    return None


def download(root: Path, variant: int = DEFAULT_VARIANT, progress: bool = True, url: str | None = None,
             md5: str | None = None) -> Path:
    """Download and unzip Broden ``variant`` into ``<root>/broden1_<variant>/``; returns that folder.

    Nothing is fetched when the folder is complete already. The archive is MD5-checked
    (:func:`selrob.data.download.download_file`; a verified copy placed at ``<root>/<archive>`` by
    hand is used, and it is kept), then extracted with
    :func:`selrob.data.download.safe_extract`. ``url`` and ``md5`` replace :data:`DOWNLOADS`' (tests
    use small archives). A variant without a published MD5 is refused: place its folder by hand.
    """
    root = Path(root)
    folder = _folder(root, variant)
    if unavailable_reason(root, variant) is None:
        return folder
    entry = DOWNLOADS[variant]
    checksum = md5 if md5 is not None else entry.md5
    if checksum is None:
        raise SelrobError(f"{entry.archive} has no published MD5, so selrob does not download it; "
                          f"{how_to_get(root, variant)}")
    archive = download_file(url or entry.url, root / entry.archive, checksum, progress=progress)
    safe_extract(archive, root)
    reason = unavailable_reason(root, variant)
    if reason is not None:
        raise SelrobError(f"{archive} did not unpack to a Broden folder: {reason}")
    return folder


def _hint(folder: Path) -> str:
    """How to get the Broden folder ``folder`` again (a folder it is missing files of)."""
    variant = {name: v for v, name in FOLDERS.items()}.get(folder.name)
    if variant is not None and DOWNLOADS[variant].md5 is None:
        return how_to_get(folder.parent, variant)
    return f"delete {folder} and run `{COMMAND} --data-dir {folder.parent}`"


def _read_csv(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """The rows of ``path``, whose header must start with ``columns``."""
    if not path.is_file():
        raise SelrobError(f"Broden file {path} is missing; {_hint(path.parent)}")
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = tuple(reader.fieldnames or ())
        if header[:len(columns)] != columns:
            raise SelrobError(f"{path} has the columns {', '.join(header) or '(none)'}, expected {', '.join(columns)} first")
        return list(reader)


def _int(value: str, path: Path, line: int, column: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise SelrobError(f"{path} line {line}: {column} is {value!r}, not an integer") from None


@dataclass(frozen=True)
class Labels:
    """label.csv, category.csv and the c_<category>.csv files: each label number's name and
    categories (number 0 is "-", no label, in no category), the category names in category.csv's
    order, and each label's coverage per category."""

    names: dict[int, str]
    categories_of: dict[int, tuple[str, ...]]
    categories: tuple[str, ...]
    coverage: dict[int, dict[str, float]]

    def numbers_in(self, category: str) -> list[int]:
        """The label numbers that belong to ``category``, ascending."""
        return sorted(n for n, cats in self.categories_of.items() if category in cats)

    def primary_category(self, number: int) -> str:
        """The category a label counts in: of those label.csv lists it in, the one whose
        c_<category>.csv gives it the largest coverage, a tie going to the later category of
        category.csv ("" for number 0).

        NetDissect-Lite's ``primary_categories_per_index`` rule: the paper's unit categories (Fig
        4a, A7-A9) come from that code, so a unit whose label Broden lists in two categories counts
        where Lite counted it. One corner differs: Lite takes the maximum over every category
        (coverage 0 where the label is not listed), so a label without coverage anywhere falls in
        the last category of all; here it stays in one it is listed in.
        """
        listed = self.categories_of.get(number, ())
        if not listed:
            return ""
        order = {category: index for index, category in enumerate(self.categories)}
        return max(listed, key=lambda c: (self.coverage.get(number, {}).get(c, 0.0), order[c]))

    def concepts(self) -> Concepts:
        """The labels as probe-set :class:`~selrob.data.probe.Concepts` (numbers 0..max, a number
        label.csv skips named ``"-"``), each in its :meth:`primary_category`."""
        top = max(self.names)
        return Concepts(names=[self.names.get(n, "-") for n in range(top + 1)],
                        category=[self.primary_category(n) for n in range(top + 1)])


def _float(value: str, path: Path, line: int, column: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise SelrobError(f"{path} line {line}: {column} is {value!r}, not a number") from None


def read_labels(folder: Path) -> Labels:
    """The labels of the Broden folder ``folder`` (``broden1_224/``), from label.csv, category.csv
    and each category's c_<category>.csv."""
    folder = Path(folder)
    label_path, category_path = folder / "label.csv", folder / "category.csv"
    names, categories_of = {0: "-"}, {0: ()}
    for line, row in enumerate(_read_csv(label_path, LABEL_COLUMNS), start=2):
        number = _int(row["number"], label_path, line, "number")
        if number == 0:
            continue  # "-": no label
        parts = [p for p in (row["category"] or "").split(";") if p]
        matches = [_CATEGORY.fullmatch(p) for p in parts]
        if not all(matches):
            raise SelrobError(f"{label_path} line {line}: category is {row['category']!r}, not cat(count);cat(count)")
        names[number] = row["name"]
        categories_of[number] = tuple(m["name"] for m in matches if m is not None)
    categories = tuple(row["name"] for row in _read_csv(category_path, CATEGORY_COLUMNS))
    unknown = sorted({c for cats in categories_of.values() for c in cats} - set(categories))
    if unknown:
        raise SelrobError(f"{label_path} names categories that {category_path} does not list: {', '.join(unknown)}")
    coverage: dict[int, dict[str, float]] = {}
    for category in categories:
        path = folder / f"c_{category}.csv"
        for line, row in enumerate(_read_csv(path, CODE_COLUMNS), start=2):
            number = _int(row["number"], path, line, "number")
            coverage.setdefault(number, {})[category] = _float(row["coverage"], path, line, "coverage")
    return Labels(names, categories_of, categories, coverage)


@dataclass(frozen=True)
class ProbeImage:
    """One row of index.csv. ``path`` and the PNG names are relative to ``images/``; ``pixel``
    holds, per category that has them, the pixel-label PNGs; ``whole`` the label numbers that
    cover the whole image. A category with an empty field is in neither."""

    path: str
    split: str
    image_size: tuple[int, int]
    segmentation_size: tuple[int, int]
    pixel: dict[str, tuple[str, ...]] = field(default_factory=dict)
    whole: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def categories(self) -> tuple[str, ...]:
        """The categories this image carries labels of (NetDissect counts a unit's mask only there)."""
        return tuple(sorted(set(self.pixel) | set(self.whole)))


def read_index(folder: Path) -> list[ProbeImage]:
    """The images of the Broden folder ``folder`` in index.csv's order; the category columns are
    those after :data:`INDEX_COLUMNS`."""
    folder = Path(folder)
    path = folder / "index.csv"
    rows = _read_csv(path, INDEX_COLUMNS)
    images = []
    for line, row in enumerate(rows, start=2):
        if None in row or None in row.values():  # csv's markers of extra and of missing fields
            raise SelrobError(f"{path} line {line} does not have the header's {len(row) - (None in row)} fields")
        ih, iw, sh, sw = (_int(row[c], path, line, c) for c in ("ih", "iw", "sh", "sw"))
        pixel: dict[str, tuple[str, ...]] = {}
        whole: dict[str, tuple[int, ...]] = {}
        for category, value in row.items():
            if category in INDEX_COLUMNS or not value:
                continue
            items = [item for item in value.split(";") if item]
            names = tuple(item for item in items if not item.isdigit())
            numbers = tuple(int(item) for item in items if item.isdigit())
            if names:
                pixel[category] = names
            if numbers:
                whole[category] = numbers
        images.append(ProbeImage(row["image"], row["split"], (ih, iw), (sh, sw), pixel, whole))
    return images


def decode_pixel_labels(path: Path) -> np.ndarray:
    """A pixel-label PNG as int32 (H, W) label numbers: ``R + 256 * G`` (NetDissect's encoding)."""
    path = Path(path)
    if not path.is_file():
        raise SelrobError(f"Broden pixel-label file {path} is missing; the Broden folder is incomplete: "
                          f"delete it and run `{COMMAND}` again")
    try:
        with Image.open(path) as opened:
            rgb = np.asarray(opened.convert("RGB"), dtype=np.int32)
    except (OSError, SyntaxError) as err:
        raise SelrobError(f"cannot read {path}: {err}") from None
    return rgb[:, :, 0] + 256 * rgb[:, :, 1]


def image_labels(folder: Path, image: ProbeImage) -> ImageLabels:
    """The decoded labels of ``image`` from the Broden folder ``folder``; every pixel map must have
    the image's segmentation size."""
    pixel = {}
    for category, names in image.pixel.items():
        missing = [name for name in names if not (Path(folder) / IMAGES / name).is_file()]
        if missing:
            raise SelrobError(f"Broden pixel-label file {Path(folder) / IMAGES / missing[0]} (of {image.path}) is "
                              f"missing; {_hint(Path(folder))}")
        maps = [decode_pixel_labels(Path(folder) / IMAGES / name) for name in names]
        for name, labels in zip(names, maps):
            if labels.shape != image.segmentation_size:
                raise SelrobError(f"{Path(folder) / IMAGES / name} is {labels.shape[1]}x{labels.shape[0]}, but "
                                  f"index.csv gives {image.path} a {image.segmentation_size[1]}x"
                                  f"{image.segmentation_size[0]} segmentation")
        pixel[category] = maps
    return ImageLabels(tuple(image.segmentation_size), pixel,
                       {category: list(numbers) for category, numbers in image.whole.items()})


def load_image(folder: Path, image: ProbeImage, size: int) -> np.ndarray:
    """``image`` as uint8 (3, size, size) RGB, resized (PIL bilinear) only when it is not
    ``size`` x ``size`` already."""
    path = Path(folder) / IMAGES / image.path
    if not path.is_file():
        raise SelrobError(f"Broden image {path} is missing; {_hint(Path(folder))}")
    try:
        with Image.open(path) as opened:
            rgb = opened.convert("RGB")
    except (OSError, SyntaxError) as err:
        raise SelrobError(f"cannot read {path}: {err}") from None
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1).copy()
