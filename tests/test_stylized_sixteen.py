"""model-vs-human's 16-class stylized set: a tiny set in the real layout (``stylized/dnn/session-1/``,
model-vs-human's file names, 224 px PNGs) downloaded from a local archive, its structure checked,
its SHA-256 trusted on first use, loaded in sorted order with each image's category."""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from selrob.data import stylized_sixteen as stylized
from selrob.data.cue_conflict_stimuli import CATEGORIES
from selrob.errors import SelrobError

PER_CATEGORY = 2


def name(number: int, category: str) -> str:
    """A file name as model-vs-human's, e.g. ``0350_sty_dnn_0_car_00_car-0149-ILSVRC2012-val-00049427.png``."""
    return f"{number:04d}_sty_dnn_0_{category}_00_{category}-{number:04d}-ILSVRC2012-val-{40000 + number:08d}.png"


def write_set(parent: Path, per_category: int = PER_CATEGORY) -> Path:
    """``parent/stylized`` in the real layout: ``per_category`` solid-grey 224 px PNGs per category,
    numbered through the categories in sorted order as the real set is; grey level = number."""
    images = parent / stylized.FOLDER / stylized.IMAGES
    images.mkdir(parents=True)
    for index, category in enumerate(CATEGORIES):
        for k in range(per_category):
            number = index * per_category + k + 1
            Image.fromarray(np.full((224, 224, 3), number, dtype=np.uint8)).save(images / name(number, category))
    return parent / stylized.FOLDER


def write_archive(source: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(source, arcname=stylized.FOLDER)
    return archive


@pytest.fixture()
def archive(tmp_path: Path) -> Path:
    return write_archive(write_set(tmp_path / "src"), tmp_path / "stylized.tar.gz")


def test_names_give_the_category() -> None:
    assert stylized.category_of("0350_sty_dnn_0_car_00_car-0149-ILSVRC2012-val-00049427.png") == "car"
    for bad in ("0350_sty_dnn_0_bus_00_bus-0149.png", "car/0350.png", "0350_sty_dnn_0_car_00_car-0149.jpg"):
        with pytest.raises(SelrobError, match="is not a stylized image name"):
            stylized.category_of(bad)


def test_download_checks_the_set_records_its_sha256_and_loads_it_in_sorted_order(tmp_path: Path, archive: Path) -> None:
    root = tmp_path / "data"
    assert "is not in" in stylized.unavailable_reason(root, PER_CATEGORY)
    folder = stylized.download(root, progress=False, url=archive.as_uri(), per_category=PER_CATEGORY)
    assert folder == root / stylized.FOLDER and stylized.unavailable_reason(root, PER_CATEGORY) is None
    record = stylized.read_record(root)
    assert record == {"url": archive.as_uri(), "sha256": hashlib.sha256(archive.read_bytes()).hexdigest(),
                      "bytes": archive.stat().st_size, "images": 16 * PER_CATEGORY}
    assert (root / stylized.ARCHIVE).read_bytes() == archive.read_bytes()  # kept
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no staging left behind

    images, categories, files = stylized.load_stylized(root, PER_CATEGORY)
    assert images.dtype == torch.uint8 and images.shape == (32, 3, 224, 224)
    assert categories == [c for c in CATEGORIES for _ in range(PER_CATEGORY)]
    assert files == sorted(files) and files[0] == f"dnn/session-1/{name(1, 'airplane')}"
    assert images[:, 0, 0, 0].tolist() == list(range(1, 33))  # image i is file i
    # The real set's 50 per category is the default: this one is refused as incomplete.
    assert "expected 50 images per category, found airplane 2" in stylized.unavailable_reason(root)


def test_a_second_archive_with_another_sha256_is_refused(tmp_path: Path, archive: Path) -> None:
    root = tmp_path / "data"
    stylized.download(root, progress=False, url=archive.as_uri(), per_category=PER_CATEGORY)
    # Intact, recorded, no archive: nothing is downloaded (the URL does not exist).
    (root / stylized.ARCHIVE).unlink()
    stylized.download(root, progress=False, url=(tmp_path / "nowhere.tar.gz").as_uri(), per_category=PER_CATEGORY)
    other = tmp_path / "other"
    source = write_set(other)
    Image.fromarray(np.zeros((224, 224, 3), dtype=np.uint8)).save(source / stylized.IMAGES / name(1, "airplane"))
    write_archive(source, root / stylized.ARCHIVE)  # placed by hand
    with pytest.raises(SelrobError, match=r"has SHA-256 [0-9a-f]{64}, but the set in .* was unpacked from one with "
                                          r"SHA-256 [0-9a-f]{64} \(recorded on first download.*delete .*stylized to "
                                          r"accept the new archive"):
        stylized.download(root, progress=False, per_category=PER_CATEGORY)
    assert stylized.load_stylized(root, PER_CATEGORY).images[0, 0, 0, 0] == 1  # the first set stays
    shutil.rmtree(root / stylized.FOLDER)  # accepting the new archive
    stylized.download(root, progress=False, per_category=PER_CATEGORY)
    assert stylized.read_record(root)["sha256"] == hashlib.sha256((root / stylized.ARCHIVE).read_bytes()).hexdigest()
    assert stylized.load_stylized(root, PER_CATEGORY).images[0, 0, 0, 0] == 0


def test_structure_problems_name_missing_categories_wrong_sizes_and_strangers(tmp_path: Path) -> None:
    folder = write_set(tmp_path)
    assert stylized.structure_problems(folder, PER_CATEGORY) == []
    images = folder / stylized.IMAGES
    for path in images.glob("*_oven_*.png"):
        path.unlink()
    Image.fromarray(np.zeros((100, 120, 3), dtype=np.uint8)).save(images / name(1, "airplane"))
    (images / "notes.txt").write_text("not an image")
    (images / name(99, "bear")).write_bytes((images / name(3, "bear")).read_bytes())
    problems = stylized.structure_problems(folder, PER_CATEGORY)
    assert problems[0] == "1 entries of stylized/dnn/session-1 are not stylized image names: notes.txt"
    assert problems[1] == "no images of 1 categories: oven"
    assert problems[2] == "expected 2 images per category, found bear 3"
    assert problems[3] == f"1 images of stylized/dnn/session-1 are not 224x224 RGB: {name(1, 'airplane')} is 120x100, not 224x224"
    assert len(problems) == 4
    reason = stylized.unavailable_reason(tmp_path, PER_CATEGORY)
    assert "incomplete" in reason and "oven" in reason and reason.endswith(
        f"download it with `selrob data download stylized-16 --data-dir {tmp_path}`")
    (images / "notes.txt").unlink()
    (images / name(99, "bear")).unlink()
    for number in (29, 30):  # oven is the 15th category
        Image.fromarray(np.full((224, 224, 3), number, dtype=np.uint8)).save(images / name(number, "oven"))
    with pytest.raises(SelrobError, match=r"airplane.*\.png is 120x100, not 224x224"):
        stylized.load_stylized(tmp_path, PER_CATEGORY)
    assert stylized.structure_problems(tmp_path / "nothing") == ["no folder stylized/dnn/session-1"]


def test_an_archive_of_another_layout_is_refused_and_nothing_is_adopted(tmp_path: Path) -> None:
    source = write_set(tmp_path / "src")
    flat = tmp_path / "flat"  # the layout of the cue-conflict archive: <category>/<image>
    for path in (source / stylized.IMAGES).iterdir():
        (flat / path.name.split("_")[4]).mkdir(parents=True, exist_ok=True)
        path.replace(flat / path.name.split("_")[4] / path.name)
    archive = write_archive(flat, tmp_path / "flat.tar.gz")
    root = tmp_path / "data"
    with pytest.raises(SelrobError, match=r"data/stylized.tar.gz \(SHA-256 [0-9a-f]{64}\) is not model-vs-human's "
                                          r"stylized set: no folder stylized/dnn/session-1 \(found airplane, bear, "
                                          r"bicycle and 13 more in stylized/\); delete it and run `selrob data download "
                                          r"stylized-16"):
        stylized.download(root, progress=False, url=archive.as_uri(), per_category=PER_CATEGORY)
    assert sorted(p.name for p in root.iterdir()) == [stylized.ARCHIVE]


def test_extraction_refuses_an_entry_outside_the_folder(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        info = tarfile.TarInfo("../escaped.png")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"png"))
    with pytest.raises(SelrobError, match="would be written outside"):
        stylized.download(tmp_path / "data", progress=False, url=archive.as_uri(), per_category=PER_CATEGORY)
    assert not (tmp_path / "data" / "escaped.png").exists() and not (tmp_path / "data" / stylized.FOLDER).exists()


def test_a_failed_download_says_where_to_place_the_archive(tmp_path: Path) -> None:
    with pytest.raises(SelrobError, match=r"could not download .*; download it yourself and place it at .*stylized.tar.gz "
                                          r"\(no checksum is published.*then run `selrob data download stylized-16"):
        stylized.download(tmp_path / "data", progress=False, url=(tmp_path / "absent.tar.gz").as_uri())
    assert not (tmp_path / "data" / stylized.ARCHIVE).exists()
