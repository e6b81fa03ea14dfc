"""Broden (Network Dissection's probe set): a tiny folder in the real format (index.csv, label.csv,
category.csv, images/ with 16x16 images and 8x8 pixel-label PNGs coding R + 256 G), parsed,
decoded, and downloaded from a local zip."""

from __future__ import annotations

import csv
import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from selrob.data import broden
from selrob.errors import SelrobError

CATEGORIES = ("color", "object", "material", "part", "scene", "texture")
LABELS = [  # number, name, category
    (1, "black-c", "color(2)"),
    (2, "person", "object(2);part(1)"),
    (3, "dog", "object(1)"),
    (4, "head", "part(1)"),
    (5, "kitchen", "scene(1)"),
    (6, "striped", "texture(1)"),
    (300, "wheel", "object(1);part(1)"),  # a code > 255: G = 1, R = 44
]
#: Coverage per (label, category) in the c_<category>.csv files: person covers more as a part
#: (its primary category is part, though label.csv lists object first); wheel ties (the later
#: category of category.csv, part); dog has no coverage row (0) but only one category.
COVERAGE = {(1, "color"): 0.5, (2, "object"): 0.1, (2, "part"): 0.3, (4, "part"): 0.2, (5, "scene"): 1.0,
            (6, "texture"): 1.0, (300, "object"): 0.25, (300, "part"): 0.25}


def encode(codes: np.ndarray) -> np.ndarray:
    """Label numbers as Broden's RGB: R = code % 256, G = code // 256."""
    rgb = np.zeros((*codes.shape, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1] = codes % 256, codes // 256
    return rgb


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


OBJECT_A = np.zeros((8, 8), dtype=np.int64)
OBJECT_A[:4] = 2
OBJECT_B = np.zeros((8, 8), dtype=np.int64)
OBJECT_B[4:, :4] = 3
OBJECT_B[4:, 4:] = 300


def write_broden(parent: Path, variant: int = 224) -> Path:
    """``parent/broden1_<variant>``: four 16x16 JPEGs (image i solid grey 40 i) with 8x8 segmentations."""
    folder = parent / broden.FOLDERS[variant]
    images = folder / "images" / "ade20k"
    images.mkdir(parents=True)
    for i in range(4):
        Image.fromarray(np.full((16, 16, 3), 40 * (i + 1), dtype=np.uint8)).save(images / f"img{i}.jpg")
    Image.fromarray(encode(OBJECT_A)).save(images / "img0_object_1.png")
    Image.fromarray(encode(OBJECT_B)).save(images / "img0_object_2.png")
    Image.fromarray(encode(np.full((8, 8), 4))).save(images / "img0_part_1.png")
    Image.fromarray(encode(np.full((8, 8), 1))).save(images / "img1_color.png")
    base = ["ih", "iw", "sh", "sw"]
    write_csv(folder / "index.csv", ["image", "split", *base, *CATEGORIES], [
        ["ade20k/img0.jpg", "train", 16, 16, 8, 8, "", "ade20k/img0_object_1.png;ade20k/img0_object_2.png", "",
         "ade20k/img0_part_1.png", "", ""],
        ["ade20k/img1.jpg", "train", 16, 16, 8, 8, "ade20k/img1_color.png", "", "", "", "", ""],  # no object labels
        ["ade20k/img2.jpg", "val", 16, 16, 8, 8, "", "", "", "", "5", "6;300"],  # whole-image labels
        ["ade20k/img3.jpg", "val", 16, 16, 8, 8, "", "", "", "", "", ""],
    ])
    write_csv(folder / "label.csv", ["number", "name", "category", "frequency", "coverage", "syns"],
              [[n, name, cats, 1, 0.5, ""] for n, name, cats in LABELS])
    write_csv(folder / "category.csv", ["name", "first", "last", "count", "frequency"],
              [[c, 1, 300, 1, 1] for c in CATEGORIES])
    names = {number: name for number, name, _ in LABELS}
    for category in CATEGORIES:
        rows = [(number, coverage) for (number, c), coverage in COVERAGE.items() if c == category]
        write_csv(folder / f"c_{category}.csv", ["code", "number", "name", "frequency", "coverage"],
                  [[code, number, names[number], 1, coverage] for code, (number, coverage) in enumerate(rows, 1)])
    return folder


def zip_folder(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            zf.write(path, path.relative_to(folder.parent).as_posix())
    return archive


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_labels_give_names_and_every_category_of_a_label(tmp_path: Path) -> None:
    labels = broden.read_labels(write_broden(tmp_path))
    assert labels.categories == CATEGORIES
    assert labels.names[0] == "-" and labels.categories_of[0] == ()
    assert labels.names[2] == "person" and labels.categories_of[2] == ("object", "part")
    assert labels.names[300] == "wheel" and labels.numbers_in("object") == [2, 3, 300]
    assert labels.numbers_in("scene") == [5]


def test_a_label_of_several_categories_counts_in_the_one_it_covers_most(tmp_path: Path) -> None:
    """NetDissect-Lite's primary category: the largest coverage in the c_<category>.csv files, a tie
    to the later category of category.csv; label.csv's first category does not decide."""
    labels = broden.read_labels(write_broden(tmp_path))
    assert labels.coverage[2] == {"object": 0.1, "part": 0.3}
    assert [labels.primary_category(n) for n in (0, 1, 2, 3, 4, 300)] == ["", "color", "part", "object", "part", "part"]
    concepts = labels.concepts()
    assert concepts.category[2] == "part" and concepts.category[300] == "part" and concepts.category[3] == "object"
    (tmp_path / "broden1_224" / "c_part.csv").unlink()
    with pytest.raises(SelrobError, match=r"Broden file .*c_part\.csv is missing"):
        broden.read_labels(tmp_path / "broden1_224")


def test_index_fields_are_empty_png_lists_or_whole_image_numbers(tmp_path: Path) -> None:
    images = broden.read_index(write_broden(tmp_path))
    assert [im.path for im in images] == [f"ade20k/img{i}.jpg" for i in range(4)]
    first, second, third, fourth = images
    assert first.split == "train" and first.image_size == (16, 16) and first.segmentation_size == (8, 8)
    assert first.pixel == {"object": ("ade20k/img0_object_1.png", "ade20k/img0_object_2.png"),
                           "part": ("ade20k/img0_part_1.png",)}
    assert first.whole == {} and first.categories == ("object", "part")
    assert "object" not in second.pixel and second.categories == ("color",)
    assert third.split == "val" and third.pixel == {} and third.whole == {"scene": (5,), "texture": (6, 300)}
    assert fourth.categories == ()


def test_pixel_labels_decode_r_plus_256_g_and_whole_image_labels_pass_through(tmp_path: Path) -> None:
    folder = write_broden(tmp_path)
    images = broden.read_index(folder)
    decoded = broden.decode_pixel_labels(folder / "images" / "ade20k" / "img0_object_2.png")
    assert decoded.dtype == np.int32 and decoded.shape == (8, 8)
    np.testing.assert_array_equal(decoded, OBJECT_B)
    assert decoded.max() == 300
    labels = broden.image_labels(folder, images[0])
    assert sorted(labels.pixel) == ["object", "part"] and labels.whole == {}
    np.testing.assert_array_equal(labels.pixel["object"][0], OBJECT_A)
    np.testing.assert_array_equal(labels.pixel["object"][1], OBJECT_B)
    np.testing.assert_array_equal(labels.pixel["part"][0], np.full((8, 8), 4))
    whole = broden.image_labels(folder, images[2])
    assert whole.pixel == {} and whole.whole == {"scene": [5], "texture": [6, 300]}


def test_images_load_as_uint8_chw_resized_only_when_needed(tmp_path: Path) -> None:
    folder = write_broden(tmp_path)
    image = broden.read_index(folder)[1]
    same = broden.load_image(folder, image, 16)
    assert same.dtype == np.uint8 and same.shape == (3, 16, 16) and abs(int(same.mean()) - 80) <= 2
    bigger = broden.load_image(folder, image, 24)
    assert bigger.shape == (3, 24, 24) and abs(int(bigger.mean()) - 80) <= 2


def test_missing_files_and_bad_fields_are_one_line_errors_naming_them(tmp_path: Path) -> None:
    folder = write_broden(tmp_path)
    images = broden.read_index(folder)
    (folder / "images" / "ade20k" / "img0_object_2.png").unlink()
    with pytest.raises(SelrobError, match=r"pixel-label file .*img0_object_2\.png \(of ade20k/img0\.jpg\) is missing; "
                                          r"delete .*broden1_224 and run `selrob data download broden --data-dir"):
        broden.image_labels(folder, images[0])
    with pytest.raises(SelrobError, match=r"img0_object_2\.png is missing"):
        broden.decode_pixel_labels(folder / "images" / "ade20k" / "img0_object_2.png")
    (folder / "images" / "ade20k" / "img3.jpg").unlink()
    with pytest.raises(SelrobError, match=r"Broden image .*img3\.jpg is missing"):
        broden.load_image(folder, images[3], 16)
    Image.fromarray(encode(np.zeros((4, 4), dtype=np.int64))).save(folder / "images" / "ade20k" / "img1_color.png")
    with pytest.raises(SelrobError, match=r"img1_color\.png is 4x4, but index.csv gives ade20k/img1\.jpg a 8x8"):
        broden.image_labels(folder, images[1])
    lines = (folder / "index.csv").read_text().splitlines()
    (folder / "index.csv").write_text("\n".join([lines[0], lines[1].replace(",16,16,8,8,", ",16,x,8,8,")]) + "\n")
    with pytest.raises(SelrobError, match=r"index\.csv line 2: iw is 'x', not an integer"):
        broden.read_index(folder)
    (folder / "index.csv").write_text("\n".join([lines[0], "ade20k/img0.jpg,train,16,16"]) + "\n")
    with pytest.raises(SelrobError, match=r"index\.csv line 2 does not have the header's 12 fields"):
        broden.read_index(folder)
    (folder / "index.csv").unlink()
    with pytest.raises(SelrobError, match=r"Broden file .*broden1_224/index\.csv is missing; delete .* and run "
                                          r"`selrob data download broden --data-dir") as error:
        broden.read_index(folder)
    assert "\n" not in str(error.value)
    (folder / "label.csv").write_text("number,name,category,frequency,coverage,syns\n1,black,color,1,1,\n")
    with pytest.raises(SelrobError, match=r"line 2: category is 'color', not cat\(count\)"):
        broden.read_labels(folder)


def test_unavailable_reason_says_what_to_get_and_the_command(tmp_path: Path) -> None:
    root = tmp_path / "data"
    reason = broden.unavailable_reason(root)
    assert reason == (f"the Broden probe set broden1_224 is not in {root}; download it with "
                      f"`selrob data download broden --data-dir {root}`")
    assert "broden1_227.zip yourself (no published MD5" in broden.unavailable_reason(root, 227)
    folder = write_broden(root)
    assert broden.unavailable_reason(root) is None
    (folder / "c_texture.csv").unlink()
    assert "incomplete (missing c_texture.csv)" in broden.unavailable_reason(root)
    (folder / "category.csv").unlink()
    assert "incomplete (missing category.csv)" in broden.unavailable_reason(root)
    with pytest.raises(SelrobError, match="unknown Broden variant 225; choose one of: 224, 227"):
        broden.unavailable_reason(root, 225)


def test_download_checks_the_md5_and_extracts_safely(tmp_path: Path) -> None:
    archive = zip_folder(write_broden(tmp_path / "src"), tmp_path / "broden1_224.zip")
    root = tmp_path / "data"
    with pytest.raises(SelrobError, match="checksum mismatch"):
        broden.download(root, progress=False, url=archive.as_uri(), md5="0" * 32)
    assert not root.exists()  # a failed download leaves nothing behind
    folder = broden.download(root, progress=False, url=archive.as_uri(), md5=md5(archive))
    assert folder == root / "broden1_224" and broden.unavailable_reason(root) is None
    assert len(broden.read_index(folder)) == 4 and (root / "broden1_224.zip").is_file()
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no staging left behind
    # Complete: nothing is fetched (the URL does not exist).
    assert broden.download(root, progress=False, url=(tmp_path / "nowhere.zip").as_uri()) == folder


def test_an_unsafe_archive_or_a_wrong_folder_is_refused_and_227_needs_placing_by_hand(tmp_path: Path) -> None:
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../outside.txt", "x")
    root = tmp_path / "data"
    with pytest.raises(SelrobError, match="would be written outside"):
        broden.download(root, progress=False, url=evil.as_uri(), md5=md5(evil))
    assert not (tmp_path / "outside.txt").exists()
    other = zip_folder(write_broden(tmp_path / "src", 227), tmp_path / "other.zip")
    (root / "broden1_224.zip").unlink()
    with pytest.raises(SelrobError, match=r"did not unpack to a Broden folder: the Broden probe set broden1_224 is not"):
        broden.download(root, progress=False, url=other.as_uri(), md5=md5(other))
    with pytest.raises(SelrobError, match=r"broden1_227\.zip has no published MD5, so selrob does not download it; "
                                          r"download http://netdissect\.csail\.mit\.edu/data/broden1_227\.zip yourself"):
        broden.download(tmp_path / "empty", 227, progress=False)
    assert broden.DOWNLOADS[224].md5 == "be13c292eaef3300da03f8d0e48eab1c" and broden.DOWNLOADS[227].md5 is None
    assert broden.download(tmp_path / "src", 227, progress=False) == tmp_path / "src" / "broden1_227"  # placed by hand


def test_broden_labels_feed_network_dissection(tmp_path: Path) -> None:
    import torch

    from selrob.measures.dissection import IoUAccumulator, unit_labels

    folder = write_broden(tmp_path)
    concepts = broden.read_labels(folder).concepts()
    assert concepts.names[3] == "dog" and concepts.category[300] == "part" and concepts.names[299] == "-"
    labels = [broden.image_labels(folder, image) for image in broden.read_index(folder)]
    assert [image.size for image in labels] == [(8, 8)] * 4
    dog = torch.from_numpy(((OBJECT_A == 3) | (OBJECT_B == 3)).astype(np.float64))
    maps = torch.zeros(4, 1, 8, 8)
    maps[0, 0] = dog  # a unit that fires exactly on the dog of image 0
    accumulator = IoUAccumulator(1, concepts)
    accumulator.update(maps, torch.tensor([0.5]), labels)
    row = unit_labels(accumulator.iou(), concepts).iloc[0]
    assert (row["label"], row["category"]) == ("dog", "object") and row["iou"] == pytest.approx(1.0)
