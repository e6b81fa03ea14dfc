"""-C sets: generation in the official formats, resuming, loading back, official downloads, and
clear errors for bad files."""

from __future__ import annotations

import dataclasses
import hashlib
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from threadpoolctl import threadpool_limits

from selrob.cli import main
from selrob.corruptions import CORRUPTIONS, corrupt
from selrob.corruptions.generate import make_corrupted_set
from selrob.data import corrupted as corrupted_module
from selrob.data import load_test_set, tinyimagenet
from selrob.data.corrupted import CorruptedSet, corrupted_dir, download_corrupted
from selrob.data.download import file_digest
from selrob.errors import SelrobError
from support.frost import write_frost_photos
from tests.test_data import write_tiny_imagenet_zip

PICKED = ["contrast", "gaussian_noise", "frost"]


def _expected(images: np.ndarray, name: str, severity: int, table: str) -> np.ndarray:
    """What one cell must hold: the test images corrupted with the documented per-cell seed."""
    return corrupt(images, name, severity, table, seed=(0, list(CORRUPTIONS).index(name), severity, 0))


def test_generated_digits_set_round_trips(tmp_path: Path) -> None:
    write_frost_photos(tmp_path / "frost")  # the data folder's stand-ins
    folder = make_corrupted_set("digits", tmp_path, PICKED, workers=1, progress=False)
    assert folder == tmp_path / "generated" / "digits-C"
    test = load_test_set("digits")
    images = test.images.numpy().transpose(0, 2, 3, 1)
    raw = np.load(folder / "contrast.npy")
    assert raw.shape == (5 * len(test), 8, 8, 1) and raw.dtype == np.uint8
    np.testing.assert_array_equal(np.load(folder / "labels.npy"), np.tile(test.labels.numpy(), 5))
    loaded = CorruptedSet("digits", "generated", tmp_path)
    assert loaded.corruptions() == ["gaussian_noise", "frost", "contrast"]  # release order
    for name in PICKED:
        for severity in (1, 3, 5):
            cell = loaded.load(name, severity)
            assert cell.images.shape == test.images.shape
            np.testing.assert_array_equal(cell.labels.numpy(), test.labels.numpy())
            np.testing.assert_array_equal(cell.images.numpy().transpose(0, 2, 3, 1), _expected(images, name, severity, "cifar10"))


def test_generation_resumes_and_refuses_other_settings(tmp_path: Path) -> None:
    folder = make_corrupted_set("digits", tmp_path, PICKED[:2], workers=1, progress=False)
    kept = (folder / "gaussian_noise.npy").stat().st_mtime_ns
    (folder / "contrast.npy").unlink()
    make_corrupted_set("digits", tmp_path, PICKED[:2], workers=1, progress=False)
    assert (folder / "contrast.npy").is_file()
    assert (folder / "gaussian_noise.npy").stat().st_mtime_ns == kept  # finished corruptions are skipped
    fingerprint = CorruptedSet("digits", "generated", tmp_path).fingerprint
    with pytest.raises(SelrobError, match="generated with other settings"):
        make_corrupted_set("digits", tmp_path, PICKED[:2], seed=1, workers=1, progress=False)
    assert CorruptedSet("digits", "generated", tmp_path).fingerprint == fingerprint
    assert not list(folder.glob(".*"))  # no temporary files left


def test_generation_writes_the_same_bytes_with_any_workers_and_threads(tmp_path: Path) -> None:
    """``make-c`` with one worker (this process, BLAS on two threads or one) and with two worker
    processes writes the same files, byte for byte: each corruption runs its BLAS on one thread
    whatever the caller's (zoom blur's pixel operator is a product whose last bits depend on how it
    is split between threads). Exact: by construction the same single-thread computation."""
    # Workers fetch real frost photographs, which tests must not do: corruptions without frost.
    names = ["shot_noise", "zoom_blur"]
    folders = {}
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="blas"):
            assert main(["data", "make-c", "--dataset", "digits", "--corruptions", *names, "--workers", "1",
                         "--data-dir", str(tmp_path / f"threads-{threads}")]) == 0
        folders[f"{threads} threads"] = tmp_path / f"threads-{threads}" / "generated" / "digits-C"
    assert main(["data", "make-c", "--dataset", "digits", "--corruptions", *names, "--workers", "2",
                 "--data-dir", str(tmp_path / "workers-2")]) == 0
    folders["2 workers"] = tmp_path / "workers-2" / "generated" / "digits-C"
    for name in [*names, "labels"]:
        written = {way: (folder / f"{name}.npy").read_bytes() for way, folder in folders.items()}
        assert len(set(written.values())) == 1, f"{name}.npy differs between {', '.join(written)}"


def test_make_c_reads_the_frost_photographs_of_its_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The stand-in photographs (the session's bytes) are in --data-dir's frost folder only; the
    # SELROB_DATA folder has none, so reading there would try to download them.
    monkeypatch.setenv("SELROB_DATA", str(tmp_path / "elsewhere"))
    write_frost_photos(tmp_path / "data" / "frost")
    assert main(["data", "make-c", "--dataset", "digits", "--corruptions", "frost", "--workers", "1",
                 "--data-dir", str(tmp_path / "data")]) == 0
    assert (tmp_path / "data" / "generated" / "digits-C" / "frost.npy").is_file()
    assert not (tmp_path / "elsewhere").exists()
    # A data folder where the photographs cannot be written: one line, before any download.
    (tmp_path / "blocked").mkdir()
    (tmp_path / "blocked" / "frost").write_text("a file where the folder should be")
    capsys.readouterr()
    assert main(["data", "make-c", "--dataset", "digits", "--corruptions", "frost", "--workers", "1",
                 "--data-dir", str(tmp_path / "blocked")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"selrob: error: cannot write the frost photographs to {tmp_path / 'blocked' / 'frost'} (File exists); "
                   "give a writable data folder (--data-dir or SELROB_DATA)")
    assert (tmp_path / "blocked" / "frost").read_text() == "a file where the folder should be"


def test_bad_npy_files_are_clear_errors(tmp_path: Path) -> None:
    folder = make_corrupted_set("digits", tmp_path, ["contrast"], workers=1, progress=False)
    data = (folder / "contrast.npy").read_bytes()
    (folder / "contrast.npy").write_bytes(data[: len(data) // 2])
    loaded = CorruptedSet("digits", "generated", tmp_path)
    with pytest.raises(SelrobError, match="corrupt or truncated"):
        loaded.load("contrast", 1)
    np.save(folder / "contrast.npy", np.zeros((10, 8, 8, 1), dtype=np.float32))
    with pytest.raises(SelrobError, match="holds float32"):
        loaded.load("contrast", 1)
    np.save(folder / "contrast.npy", np.zeros((12, 8, 8, 1), dtype=np.uint8))
    with pytest.raises(SelrobError, match="5 equal severities"):
        loaded.load("contrast", 1)
    with pytest.raises(SelrobError, match="severity must be 1..5"):
        loaded.load("contrast", 0)
    with pytest.raises(SelrobError, match="unknown corruption 'rain'"):
        loaded.load("rain", 1)


def test_missing_sets_and_unknown_names_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(SelrobError, match="selrob data make-c --dataset digits"):
        CorruptedSet("digits", "generated", tmp_path)
    with pytest.raises(SelrobError, match="selrob data download-c cifar10"):
        CorruptedSet("cifar10", "official", tmp_path)
    with pytest.raises(SelrobError, match="unknown corrupted-set source 'web'"):
        CorruptedSet("digits", "web", tmp_path)
    with pytest.raises(SelrobError, match="no corrupted test set for dataset 'mnist'"):
        corrupted_dir("mnist")
    with pytest.raises(SelrobError, match="no official corrupted release"):
        download_corrupted("digits", tmp_path)
    with pytest.raises(SelrobError, match="unknown corruption 'rain'"):
        make_corrupted_set("digits", tmp_path, ["rain"], workers=1)


def test_generated_tiny_imagenet_set_is_jpeg_folders(tmp_path: Path) -> None:
    archive = write_tiny_imagenet_zip(tmp_path)
    root = tmp_path / "data"
    tinyimagenet.download(root, url=archive.as_uri(), md5=file_digest(archive), progress=False)
    folder = make_corrupted_set("tinyimagenet", root, ["contrast"], workers=1, progress=False)
    wnids = tinyimagenet.read_wnids(root / tinyimagenet.FOLDER)
    for severity in range(1, 6):
        assert sorted(p.name for p in (folder / "contrast" / str(severity)).iterdir()) == wnids
    test = load_test_set("tinyimagenet", root)
    cell = CorruptedSet("tinyimagenet", "generated", root).load("contrast", 4)
    np.testing.assert_array_equal(np.sort(cell.labels.numpy()), np.sort(test.labels.numpy()))
    # JPEG at quality 85 of flat-colour images: within a few levels of the corrupted originals
    expected = _expected(test.images.numpy().transpose(0, 2, 3, 1), "contrast", 4, "tinyimagenet")
    by_label = {int(label): image for label, image in zip(test.labels, expected)}
    for image, label in zip(cell.images.numpy().transpose(0, 2, 3, 1), cell.labels):
        assert np.abs(image.astype(int) - by_label[int(label)]).max() <= 4


def _official_tiny_c(root: Path, wnids: list[str], extra_frost: int) -> Path:
    """An official-layout Tiny-ImageNet-C with two corruptions; frost with the release's defect
    of extra class folders."""
    folder = root / "Tiny-ImageNet-C"
    for name in ("frost", "fog"):
        classes = wnids + ([f"n9999{k:04d}" for k in range(extra_frost)] if name == "frost" else [])
        for severity in range(1, 6):
            for label, wnid in enumerate(classes):
                path = folder / name / str(severity) / wnid / f"{wnid}_0.JPEG"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (64, 64), (10 * severity, 40 * (label % 6), 100)).save(path, quality=95)
    return folder


def test_official_tiny_imagenet_c_reads_only_the_set_classes(tmp_path: Path) -> None:
    wnids = ["n01443537", "n01629819", "n01641577"]
    folder = _official_tiny_c(tmp_path, wnids, extra_frost=4)
    loaded = CorruptedSet("tinyimagenet", "official", tmp_path)
    assert loaded.corruptions() == ["frost", "fog"]
    assert loaded.class_ids() == wnids
    with pytest.warns(UserWarning, match="4 class folders beyond the set's 3"):
        cell = loaded.load("frost", 2)
    np.testing.assert_array_equal(cell.labels.numpy(), [0, 1, 2])
    assert abs(int(cell.images[1, 0, 0, 0]) - 20) <= 2 and abs(int(cell.images[1, 1, 0, 0]) - 40) <= 2
    assert (folder / "selrob-cache" / "frost.npy").is_file()  # decoded once
    np.testing.assert_array_equal(loaded.load("frost", 2).images, cell.images)


def test_official_cifar10_c_download_verifies_and_extracts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "src" / "CIFAR-10-C"
    source.mkdir(parents=True)
    images = np.random.default_rng(0).integers(0, 256, size=(10, 32, 32, 3), dtype=np.uint8)
    np.save(source / "fog.npy", images)
    np.save(source / "labels.npy", np.repeat(np.arange(2, dtype=np.uint8), 5)[np.r_[0:10:5, 1:10:5, 2:10:5, 3:10:5, 4:10:5]])
    archive = tmp_path / "CIFAR-10-C.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(source, arcname="CIFAR-10-C")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    fmt = corrupted_module.FORMATS["cifar10"]
    monkeypatch.setitem(corrupted_module.FORMATS, "cifar10", type(fmt)(fmt.folder, fmt.layout, fmt.table, ((archive.as_uri(), md5),)))
    root = tmp_path / "data"
    assert download_corrupted("cifar10", root, progress=False) == root / "CIFAR-10-C"
    cell = CorruptedSet("cifar10", "official", root).load("fog", 3)
    np.testing.assert_array_equal(cell.images.numpy().transpose(0, 2, 3, 1), images[4:6])
    monkeypatch.setitem(corrupted_module.FORMATS, "cifar10", type(fmt)(fmt.folder, fmt.layout, fmt.table, ((archive.as_uri(), "0" * 32),)))
    (root / "CIFAR-10-C.tar").unlink()
    with pytest.raises(SelrobError, match="checksum mismatch"):
        download_corrupted("cifar10", tmp_path / "other", progress=False)
    assert not (tmp_path / "other" / "CIFAR-10-C").exists()


def test_official_checksums_are_the_published_ones() -> None:
    urls = {url.rsplit("/", 1)[1]: md5 for fmt in corrupted_module.FORMATS.values() for url, md5 in fmt.downloads}
    assert urls == {
        "CIFAR-10-C.tar": "56bf5dcef84df0e2308c6dcbcbbd8499",
        "Tiny-ImageNet-C.tar": "f9c9a9dbdc11469f0b850190f7ad8be1",
        "Tiny-ImageNet-C-extra.tar": "0db0588d243cf403ef93449ec52b70eb",
        # ImageNet-C (Zenodo 2235448), as third-party loaders check them
        "blur.tar": "2d8e81fdd8e07fef67b9334fa635e45c",
        "digital.tar": "89157860d7b10d5797849337ca2e5c03",
        "extra.tar": "d492dfba5fc162d8ec2c3cd8ee672984",
        "noise.tar": "e80562d7f6c3f8834afb1ecf27252745",
        "weather.tar": "33ffea4db4d93fe4a428c40a6ce0c25d",
    }
    imagenet_urls = [url for url, _ in corrupted_module.FORMATS["imagenet"].downloads]
    assert all(url.startswith("https://zenodo.org/records/2235448/files/") for url in imagenet_urls)


def test_npy_cells_read_only_the_indices_asked_for(digits_c: Path) -> None:
    loaded = CorruptedSet("digits", "generated")
    whole = loaded.load("contrast", 2)
    some = loaded.load("contrast", 2, indices=[3, 0, 3])
    np.testing.assert_array_equal(some.images.numpy(), whole.images.numpy()[[3, 0, 3]])
    np.testing.assert_array_equal(some.labels.numpy(), whole.labels.numpy()[[3, 0, 3]])
    assert len(loaded.load("contrast", 2, indices=[])) == 0
    with pytest.raises(SelrobError, match=f"index {len(whole)} is out of range: .* holds {len(whole)} images"):
        loaded.load("contrast", 2, indices=[0, len(whole)])
    with pytest.raises(SelrobError, match="indices must be a sequence of integers"):
        loaded.load("contrast", 2, indices=[0.5])


def test_generated_shapes_set_round_trips(tmp_path: Path) -> None:
    folder = make_corrupted_set("shapes", tmp_path, ["contrast", "gaussian_noise"], workers=1, progress=False)
    assert folder == tmp_path / "generated" / "shapes-C"
    test = load_test_set("shapes")
    assert test.images.shape == (1000, 3, 32, 32)
    images = test.images.numpy().transpose(0, 2, 3, 1)
    raw = np.load(folder / "gaussian_noise.npy", mmap_mode="r")
    assert raw.shape == (5000, 32, 32, 3) and raw.dtype == np.uint8
    loaded = CorruptedSet("shapes", "generated", tmp_path)
    assert loaded.corruptions() == ["gaussian_noise", "contrast"]
    for name in ("contrast", "gaussian_noise"):
        cell = loaded.load(name, 4, indices=range(0, 1000, 97))
        np.testing.assert_array_equal(cell.labels.numpy(), test.labels.numpy()[::97])
        # the 32-pixel CIFAR-10-C table; chunk 0 holds the first 500 images
        expected = _expected(images[:500], name, 4, "cifar10")[::97]
        np.testing.assert_array_equal(cell.images.numpy().transpose(0, 2, 3, 1)[:len(expected)], expected)


# --- ImageNet-C: the official release only, read aligned with the clean validation set ----------

IMAGENET_WNIDS = ["n01440764", "n01443537", "n01484850"]  # sorted: class index = position
# validation file number -> its class folder; two files per class, classes not in file order
WNID_OF_FILE = {1: IMAGENET_WNIDS[1], 2: IMAGENET_WNIDS[0], 3: IMAGENET_WNIDS[2],
                4: IMAGENET_WNIDS[1], 5: IMAGENET_WNIDS[0], 6: IMAGENET_WNIDS[2]}
IMAGENET_C = {"fog": "weather", "zoom_blur": "blur"}  # corruption -> the release's category


def _val_name(number: int) -> str:
    return f"ILSVRC2012_val_{number:08d}.JPEG"


def _write_imagenet_c(folder: Path, categories: bool) -> None:
    """A tiny ImageNet-C in the release's layout, 224-pixel flat images whose green channel says the
    file number and whose red channel says the severity; with or without the category folders."""
    for name, category in IMAGENET_C.items():
        base = folder / category / name if categories else folder / name
        for severity in range(1, 6):
            for number, wnid in WNID_OF_FILE.items():
                path = base / str(severity) / wnid / _val_name(number)
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (224, 224), (40 * severity, 30 * number, 100 if name == "fog" else 200)).save(path, quality=95)


@pytest.mark.parametrize("categories", [False, True], ids=["flat", "category-folders"])
def test_official_imagenet_c_is_aligned_with_the_validation_order(
    tmp_path: Path, categories: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_imagenet_c(tmp_path / "ImageNet-C", categories)
    loaded = CorruptedSet("imagenet", "official", tmp_path)
    assert loaded.corruptions() == ["zoom_blur", "fog"]  # release order
    assert loaded.class_ids() == IMAGENET_WNIDS
    cell = loaded.load("fog", 3)
    assert cell.images.shape == (6, 3, 224, 224)
    np.testing.assert_array_equal(cell.labels.numpy(), [IMAGENET_WNIDS.index(WNID_OF_FILE[n]) for n in range(1, 7)])
    assert np.abs(cell.images[:, 1, 0, 0].numpy().astype(int) - 30 * np.arange(1, 7)).max() <= 2  # file i + 1
    assert np.abs(cell.images[:, 0, 0, 0].numpy().astype(int) - 120).max() <= 2  # severity 3
    assert abs(int(loaded.load("zoom_blur", 1).images[0, 2, 0, 0]) - 200) <= 2
    assert not (tmp_path / "ImageNet-C" / "selrob-cache").exists()  # nothing decoded ahead

    read = []
    decode = corrupted_module._decode_square
    monkeypatch.setattr(corrupted_module, "_decode_square", lambda path, size: read.append(path.name) or decode(path, size))
    some = loaded.load("fog", 5, indices=[4, 0])
    assert sorted(read) == [_val_name(1), _val_name(5)]  # only the files asked for
    np.testing.assert_array_equal(some.labels.numpy(), [0, 1])  # files 5 and 1 are in the first two classes
    assert np.abs(some.images[:, 1, 0, 0].numpy().astype(int) - [150, 30]).max() <= 2


def test_official_imagenet_c_errors_name_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "ImageNet-C"
    _write_imagenet_c(folder, categories=False)
    loaded = CorruptedSet("imagenet", "official", tmp_path)
    (folder / "fog" / "2" / WNID_OF_FILE[3] / _val_name(3)).unlink()
    with pytest.raises(SelrobError, match=r"fog/2/<wnid>/ILSVRC2012_val_00000003\.JPEG \(image 2\) is missing"):
        loaded.load("fog", 2)
    assert len(loaded.load("fog", 2, indices=[0, 1, 3])) == 3  # the other files still read
    with pytest.raises(SelrobError, match="index 6 is out of range"):
        loaded.load("fog", 1, indices=[6])
    broken = folder / "fog" / "4" / WNID_OF_FILE[2] / _val_name(2)
    broken.write_bytes(b"not a jpeg")
    with pytest.raises(SelrobError, match=f"cannot read {broken}"):
        loaded.load("fog", 4, indices=[1])
    Image.new("RGB", (64, 64)).save(broken)
    with pytest.raises(SelrobError, match="is 64x64, expected 224x224"):
        loaded.load("fog", 4, indices=[1])
    with pytest.raises(SelrobError, match="has no snow folder"):
        loaded.load("snow", 1)
    (folder / "blur" / "fog").mkdir(parents=True)
    with pytest.raises(SelrobError, match="fog is in 2 places"):
        loaded.load("fog", 1)


def test_imagenet_c_is_official_only(tmp_path: Path) -> None:
    with pytest.raises(SelrobError, match="ImageNet-C is official only"):
        CorruptedSet("imagenet", "generated", tmp_path)
    with pytest.raises(SelrobError, match="ImageNet-C is official only"):
        make_corrupted_set("imagenet", tmp_path, ["fog"], workers=1, progress=False)


def test_official_imagenet_c_download_extracts_into_its_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "src"
    _write_imagenet_c(source, categories=False)
    downloads = []
    for name, category in IMAGENET_C.items():  # weather.tar with its category folder, blur.tar without
        archive = tmp_path / f"{category}.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(source / name, arcname=f"weather/{name}" if category == "weather" else name)
        downloads.append((archive.as_uri(), hashlib.md5(archive.read_bytes()).hexdigest()))
    fmt = corrupted_module.FORMATS["imagenet"]
    monkeypatch.setitem(corrupted_module.FORMATS, "imagenet", dataclasses.replace(fmt, downloads=tuple(downloads)))
    root = tmp_path / "data"
    assert download_corrupted("imagenet", root, progress=False) == root / "ImageNet-C"
    assert (root / "ImageNet-C" / "weather" / "fog").is_dir() and (root / "ImageNet-C" / "zoom_blur").is_dir()
    loaded = CorruptedSet("imagenet", "official", root)
    assert loaded.corruptions() == ["zoom_blur", "fog"]
    np.testing.assert_array_equal(loaded.load("fog", 1, indices=[2]).labels.numpy(), [2])
