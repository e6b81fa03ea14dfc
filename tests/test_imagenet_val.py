"""ImageNet validation in torchvision's format: small archives in the real layouts load with the
right labels after Resize(256) + CenterCrop(224); missing or altered files are one-line errors."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image
from torchvision.models import ResNet50_Weights

from selrob.cli import main
from selrob.data import dataset_info, download_dataset, imagenet, load_splits, load_test_set
from selrob.data.download import file_digest
from selrob.errors import SelrobError

#: Leaf synsets as (ILSVRC2012_ID, WNID, words): ids deliberately not in sorted-wnid order, so a
#: label taken as ``id - 1`` would be wrong (as in the real devkit).
SYNSETS = [(1, "n02119789", "kit fox, Vulpes macrotis"), (2, "n01440764", "tench, Tinca tinca"),
           (3, "n09999999", "unused leaf")]
#: The ILSVRC2012_ID of each validation image, in file-number order.
GROUND_TRUTH = [1, 2, 2, 1, 2]
SIZES = [(500, 375), (333, 500), (224, 224), (640, 300), (260, 300)]  # (width, height)


def _meta_mat() -> bytes:
    """``data/meta.mat`` in the devkit's structure: a struct array ``synsets`` with a parent node."""
    fields = ["ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "children", "wordnet_height",
              "num_train_images"]
    rows = [(i, wnid, words, f"gloss of {wnid}", 0, np.zeros((1, 0)), 0, 1300) for i, wnid, words in SYNSETS]
    rows.append((4, "n00001740", "entity", "the root", 3, np.array([[1, 2, 3]]), 1, 0))
    synsets = np.zeros((len(rows), 1), dtype=[(name, "O") for name in fields])
    for index, row in enumerate(rows):
        for name, value in zip(fields, row):
            synsets[index, 0][name] = value
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {"synsets": synsets})
    return buffer.getvalue()


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def jpeg_bytes(index: int, size: tuple[int, int]) -> bytes:
    """A smooth random JPEG (greyscale for image 2: some validation images are)."""
    rng = np.random.default_rng(index)
    pixels = rng.integers(0, 256, size=(size[1] // 8 + 1, size[0] // 8 + 1, 3), dtype=np.uint8)
    image = Image.fromarray(pixels).resize(size, Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    (image.convert("L") if index == 2 else image).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def write_imagenet_val(root: Path) -> dict[str, str]:
    """``ILSVRC2012_img_val.tar`` and ``ILSVRC2012_devkit_t12.tar.gz`` in torchvision's layout under
    ``root/imagenet``; returns the MD5s to pass for the published ones."""
    folder = root / imagenet.FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(folder / imagenet.VAL_ARCHIVE, "w") as archive:
        for number, size in reversed(list(enumerate(SIZES, start=1))):  # entry order is not file order
            _add(archive, f"ILSVRC2012_val_{number:08d}.JPEG", jpeg_bytes(number, size))
    with tarfile.open(folder / imagenet.DEVKIT_ARCHIVE, "w:gz") as archive:
        data = f"{imagenet.DEVKIT_FOLDER}/data"
        _add(archive, f"{data}/meta.mat", _meta_mat())
        _add(archive, f"{data}/ILSVRC2012_validation_ground_truth.txt", "".join(f"{i}\n" for i in GROUND_TRUTH).encode())
    return {"val_md5": file_digest(folder / imagenet.VAL_ARCHIVE), "devkit_md5": file_digest(folder / imagenet.DEVKIT_ARCHIVE)}


def test_labels_follow_sorted_wnids_and_images_match_torchvisions_transform(tmp_path: Path) -> None:
    checksums = write_imagenet_val(tmp_path)
    val = imagenet.load_val(tmp_path, progress=False, **checksums)
    # Sorted wnids: n01440764 (id 2) -> 0, n02119789 (id 1) -> 1, n09999999 (id 3) -> 2.
    assert val.labels.tolist() == [1, 0, 0, 1, 0]
    assert val.images.shape == (5, 3, 224, 224) and val.images.dtype == torch.uint8
    reference = ResNet50_Weights.IMAGENET1K_V1.transforms()  # Resize(256) + CenterCrop(224) + normalise
    mean, std = torch.tensor(imagenet.INFO.mean).view(3, 1, 1), torch.tensor(imagenet.INFO.std).view(3, 1, 1)
    for number, size in enumerate(SIZES, start=1):
        with Image.open(io.BytesIO(jpeg_bytes(number, size))) as image:
            expected = reference(image.convert("RGB"))
        torch.testing.assert_close((val.images[number - 1].float() / 255 - mean) / std, expected, atol=1e-5, rtol=0)


def test_the_set_is_memory_mapped_and_cached(tmp_path: Path) -> None:
    checksums = write_imagenet_val(tmp_path)
    first = imagenet.load_val(tmp_path, progress=False, **checksums)
    (tmp_path / imagenet.FOLDER / imagenet.VAL_ARCHIVE).unlink()  # the cache alone serves it now
    again = imagenet.load_val(tmp_path)  # the published checksums: the cache is not verified again
    assert torch.equal(first.images, again.images) and torch.equal(first.labels, again.labels)
    cache = tmp_path / imagenet.FOLDER / imagenet.CACHE / "val-r256-c224-images.npy"
    maps = Path("/proc/self/maps")
    if maps.is_file():  # Linux: the images are the mapped file, not a copy in RAM
        assert str(cache.resolve()) in maps.read_text()


def test_preprocessing_resumes_after_an_interruption(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checksums = write_imagenet_val(tmp_path / "fresh")
    expected = imagenet.load_val(tmp_path / "fresh", progress=False, **checksums)
    checksums = write_imagenet_val(tmp_path / "resumed")  # its own: the devkit's .mat header holds its creation time
    calls = []
    original = imagenet.preprocess_image

    def failing_after_two(data: bytes, resize: int, crop: int) -> np.ndarray:
        calls.append(1)
        if len(calls) > 2:
            raise KeyboardInterrupt
        return original(data, resize, crop)

    monkeypatch.setattr(imagenet, "preprocess_image", failing_after_two)
    with pytest.raises(KeyboardInterrupt):
        imagenet.load_val(tmp_path / "resumed", progress=False, chunk_size=2, **checksums)
    monkeypatch.setattr(imagenet, "preprocess_image", lambda *args: calls.append(1) or original(*args))
    calls.clear()
    resumed = imagenet.load_val(tmp_path / "resumed", progress=False, chunk_size=2, **checksums)
    assert len(calls) == 3  # the first chunk of two was kept
    assert torch.equal(resumed.images, expected.images) and torch.equal(resumed.labels, expected.labels)
    assert sorted(p.name for p in (tmp_path / "resumed" / imagenet.FOLDER / imagenet.CACHE).iterdir()) == [
        "val-r256-c224-images.npy", "val-r256-c224-labels.npy", "val-r256-c224.json"]


def test_missing_files_say_what_to_get_and_where(tmp_path: Path) -> None:
    folder = tmp_path / imagenet.FOLDER
    with pytest.raises(SelrobError, match=f"get ILSVRC2012_img_val.tar and ILSVRC2012_devkit_t12.tar.gz .* in {folder}$"):
        imagenet.load_val(tmp_path)
    with pytest.raises(SelrobError, match="ILSVRC2012_img_val.tar and"):
        download_dataset("imagenet", tmp_path)


def test_altered_files_are_refused_by_md5(tmp_path: Path) -> None:
    write_imagenet_val(tmp_path)
    with pytest.raises(SelrobError, match="MD5 .*, expected fa75699e90414af021442c21a62c3abf: not the published"):
        imagenet.load_val(tmp_path)  # the published checksums do not match the test archives
    assert not (tmp_path / imagenet.FOLDER / imagenet.CACHE).exists()


def test_a_foreign_archive_entry_is_refused(tmp_path: Path) -> None:
    checksums = write_imagenet_val(tmp_path)
    val_tar = tmp_path / imagenet.FOLDER / imagenet.VAL_ARCHIVE
    with tarfile.open(val_tar, "a") as archive:
        _add(archive, "../escape.JPEG", b"x")
    checksums["val_md5"] = file_digest(val_tar)
    with pytest.raises(SelrobError, match="holds '../escape.JPEG', not a validation JPEG"):
        imagenet.load_val(tmp_path, progress=False, **checksums)


def test_imagenet_is_registered_test_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    imagenet.prepare_val(tmp_path, progress=False, **write_imagenet_val(tmp_path))
    assert len(load_test_set("imagenet", tmp_path)) == len(GROUND_TRUTH)  # the registry's loader reads the cache
    assert dataset_info("imagenet") == imagenet.INFO
    with pytest.raises(SelrobError, match="'imagenet' is test-only here"):
        load_splits("imagenet", seed=0, val_per_class=1, data_root=tmp_path)
    assert main(["train", "--dataset", "imagenet", "--runs-dir", str(tmp_path / "runs")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "'imagenet' is test-only here" in lines[0] and "use `selrob train-imagenet`" in lines[0]
    assert not (tmp_path / "runs").exists()
