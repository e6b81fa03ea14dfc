"""Dataset loaders on small files written here in the real on-disk formats, and safe extraction."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from selrob.data import cifar10, digits, load_splits, tinyimagenet
from selrob.data.download import download_file, file_digest, safe_extract
from selrob.errors import SelrobError

# --- digits -----------------------------------------------------------------------------------


def test_digits_test_split_is_fixed_and_validation_is_per_seed() -> None:
    a, b = load_splits("digits", 0, 15), load_splits("digits", 1, 15)
    assert len(a.test) == 360 and torch.equal(a.test.images, b.test.images)
    assert len(a.val) == 150 and torch.bincount(a.val.labels).tolist() == [15] * 10
    assert len(a.train) + len(a.val) == 1437
    assert not torch.equal(a.val.images, b.val.images)
    assert a.train.images.dtype == torch.uint8 and a.train.images.shape[1:] == (1, 8, 8)


def test_digits_train_and_validation_do_not_overlap_and_are_deterministic() -> None:
    from selrob.data.splits import validation_split

    pool, _ = digits.load_pool_and_test()
    train, val = validation_split(pool.labels, 15, seed=3)
    assert set(train.tolist()).isdisjoint(val.tolist())
    assert len(train) + len(val) == len(pool)
    again_train, again_val = validation_split(pool.labels, 15, seed=3)
    assert torch.equal(val, again_val) and torch.equal(train, again_train)


def test_digits_normalisation_constants_are_the_training_pool_statistics() -> None:
    pool, _ = digits.load_pool_and_test()
    pixels = pool.images.double() / 255
    assert pixels.mean().item() == pytest.approx(digits.INFO.mean[0], abs=1e-4)
    assert pixels.std().item() == pytest.approx(digits.INFO.std[0], abs=1e-3)


def test_smoke_limits_shrink_the_splits() -> None:
    splits = load_splits("digits", 0, 15, max_train_samples=100, max_eval_samples=40)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (100, 40, 40)


# --- downloads and extraction -----------------------------------------------------------------


def test_download_verifies_md5(tmp_path: Path) -> None:
    source = tmp_path / "file.bin"
    source.write_bytes(b"selrob" * 100)
    target = tmp_path / "out" / "file.bin"
    assert download_file(source.as_uri(), target, file_digest(source), progress=False).read_bytes() == source.read_bytes()
    wrong = tmp_path / "out" / "wrong.bin"
    with pytest.raises(SelrobError, match="checksum mismatch"):
        download_file(source.as_uri(), wrong, "0" * 32, progress=False)
    assert not wrong.exists()
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["file.bin"]  # no temporary leftovers


def test_download_from_a_missing_url_is_a_clear_error_that_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "data" / "cifar10" / "archive.tar.gz"
    with pytest.raises(SelrobError, match=f"could not download .*; download it yourself and place it at {target} "
                                          r"\(MD5 0{32}\), then run the same command"):
        download_file((tmp_path / "nope").as_uri(), target, "0" * 32, progress=False)
    assert not (tmp_path / "data").exists()
    target.parent.mkdir(parents=True)
    target.write_bytes(b"placed by hand")
    assert download_file((tmp_path / "nope").as_uri(), target, file_digest(target), progress=False) == target


def _tar_with(tmp_path: Path, name: str, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    archive = tmp_path / name
    with tarfile.open(archive, "w:gz") as tf:
        ok = tarfile.TarInfo("good.txt")
        ok.size = 2
        tf.addfile(ok, io.BytesIO(b"ok"))
        member.size = len(data)
        tf.addfile(member, io.BytesIO(data))
    return archive


def test_safe_extract_refuses_path_traversal(tmp_path: Path) -> None:
    target = tmp_path / "target"
    archive = _tar_with(tmp_path, "evil.tar.gz", tarfile.TarInfo("../evil.txt"), b"pwned")
    with pytest.raises(SelrobError, match="outside"):
        safe_extract(archive, target)
    assert not (tmp_path / "evil.txt").exists()
    assert list(target.iterdir()) == []  # nothing half-extracted


def test_safe_extract_refuses_links(tmp_path: Path) -> None:
    link = tarfile.TarInfo("link")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    with pytest.raises(SelrobError, match="not a plain file"):
        safe_extract(_tar_with(tmp_path, "link.tar.gz", link), tmp_path / "target")


def test_safe_extract_refuses_absolute_zip_entries(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("/tmp/selrob-evil.txt", "pwned")
    with pytest.raises(SelrobError, match="outside"):
        safe_extract(archive, tmp_path / "target")


def test_safe_extract_reports_a_corrupt_archive(tmp_path: Path) -> None:
    archive = tmp_path / "broken.tar.gz"
    good = _tar_with(tmp_path, "good.tar.gz", tarfile.TarInfo("b.txt"), b"x" * 5000)
    archive.write_bytes(good.read_bytes()[:60])
    with pytest.raises(SelrobError):
        safe_extract(archive, tmp_path / "target")


# --- CIFAR-10 -----------------------------------------------------------------------------------


def test_cifar10_constants_match_torchvision() -> None:
    assert cifar10.URL == torchvision.datasets.CIFAR10.url
    assert cifar10.ARCHIVE_MD5 == torchvision.datasets.CIFAR10.tgz_md5
    assert cifar10.FOLDER == torchvision.datasets.CIFAR10.base_folder
    assert [n for n, _ in torchvision.datasets.CIFAR10.train_list] == list(cifar10.TRAIN_BATCHES)


def _cifar_batch(rng: np.random.Generator, n: int) -> tuple[dict[bytes, object], np.ndarray]:
    images = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).tolist()
    batch = {b"batch_label": b"test", b"labels": labels, b"data": images.reshape(n, 3072),
             b"filenames": [f"{i}.png".encode() for i in range(n)]}
    return batch, images


def write_cifar_archive(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """A small cifar-10-python.tar.gz in the official layout (5 train batches + test batch)."""
    rng = np.random.default_rng(0)
    source = tmp_path / "src" / cifar10.FOLDER
    source.mkdir(parents=True)
    train_images = []
    for name in cifar10.TRAIN_BATCHES:
        batch, images = _cifar_batch(rng, 4)
        train_images.append(images)
        (source / name).write_bytes(pickle.dumps(batch, protocol=2))
    test, test_images = _cifar_batch(rng, 3)
    (source / cifar10.TEST_BATCH).write_bytes(pickle.dumps(test, protocol=2))
    (source / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"airplane"] * 10}, protocol=2))
    archive = tmp_path / cifar10.ARCHIVE
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(source, arcname=cifar10.FOLDER)
    return archive, np.concatenate(train_images), test_images


def test_cifar10_download_extract_and_load_round_trip(tmp_path: Path) -> None:
    archive, train_images, test_images = write_cifar_archive(tmp_path)
    root = tmp_path / "data"
    cifar10.download(root, url=archive.as_uri(), md5=file_digest(archive), progress=False)
    pool, test = cifar10.load_pool_and_test(root)
    assert pool.images.shape == (20, 3, 32, 32) and test.images.shape == (3, 3, 32, 32)
    np.testing.assert_array_equal(pool.images.numpy(), train_images)  # channel-major rows decoded right
    np.testing.assert_array_equal(test.images.numpy(), test_images)
    assert pool.labels.dtype == torch.int64


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_cifar10_batches_of_every_pickle_protocol_load(tmp_path: Path, protocol: int) -> None:
    # A copy converted from another format is pickled with whatever protocol its script used;
    # protocol 5 stores arrays as raw buffers (numpy._core.numeric._frombuffer).
    folder = tmp_path / cifar10.FOLDER
    folder.mkdir()
    rng = np.random.default_rng(protocol)
    written = {}
    for name in (*cifar10.TRAIN_BATCHES, cifar10.TEST_BATCH):
        batch, written[name] = _cifar_batch(rng, 2)
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
    pool, test = cifar10.load_pool_and_test(tmp_path)
    np.testing.assert_array_equal(test.images.numpy(), written[cifar10.TEST_BATCH])  # integer data
    np.testing.assert_array_equal(pool.images.numpy(), np.concatenate([written[n] for n in cifar10.TRAIN_BATCHES]))


def test_cifar10_missing_folder_names_the_download_command(tmp_path: Path) -> None:
    with pytest.raises(SelrobError, match="selrob data download cifar10"):
        cifar10.load_pool_and_test(tmp_path)


class _Exploit:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned",))


def test_cifar10_refuses_pickles_that_would_run_code(tmp_path: Path) -> None:
    folder = tmp_path / cifar10.FOLDER
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": _Exploit()}))
    with pytest.raises(SelrobError, match="refusing to load"):
        cifar10.load_pool_and_test(tmp_path)


def test_cifar10_truncated_batch_is_a_clear_error(tmp_path: Path) -> None:
    archive, _, _ = write_cifar_archive(tmp_path)
    root = tmp_path / "data"
    cifar10.download(root, url=archive.as_uri(), md5=file_digest(archive), progress=False)
    batch = root / cifar10.FOLDER / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:100])
    with pytest.raises(SelrobError, match="data_batch_3 is not a valid CIFAR-10 batch"):
        cifar10.load_pool_and_test(root)


# --- Tiny ImageNet ------------------------------------------------------------------------------

COLOURS = {"n01443537": (220, 30, 30), "n01629819": (30, 30, 220)}  # class 0 red, class 1 blue


def _jpeg(path: Path, colour: tuple[int, int, int], gray: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (64, 64), colour)
    (image.convert("L") if gray else image).save(path, "JPEG", quality=95)


def write_tiny_imagenet_zip(tmp_path: Path) -> Path:
    """A small tiny-imagenet-200.zip in the official layout (flat val/images + annotations)."""
    top = tmp_path / "src" / tinyimagenet.FOLDER
    wnids = list(COLOURS)
    (top / "wnids.txt").parent.mkdir(parents=True)
    (top / "wnids.txt").write_text("\n".join(reversed(wnids)) + "\n")  # not sorted on disk
    (top / "words.txt").write_text("".join(f"{w}\tthing {i}\n" for i, w in enumerate(wnids)))
    annotations = []
    for wnid, colour in COLOURS.items():
        for k in range(3):
            _jpeg(top / "train" / wnid / "images" / f"{wnid}_{k}.JPEG", colour, gray=(k == 2))
        (top / "train" / wnid / f"{wnid}_boxes.txt").write_text("")
    for k, wnid in enumerate([wnids[1], wnids[0], wnids[1], wnids[0]]):
        _jpeg(top / "val" / "images" / f"val_{k}.JPEG", COLOURS[wnid])
        annotations.append(f"val_{k}.JPEG\t{wnid}\t0\t0\t63\t63")
    (top / "val" / "val_annotations.txt").write_text("\n".join(annotations) + "\n")
    archive = tmp_path / tinyimagenet.ARCHIVE
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(top.rglob("*")):
            zf.write(path, path.relative_to(top.parent).as_posix())
    return archive


def test_tiny_imagenet_download_reorganise_and_load(tmp_path: Path) -> None:
    archive = write_tiny_imagenet_zip(tmp_path)
    root = tmp_path / "data"
    folder = tinyimagenet.download(root, url=archive.as_uri(), md5=file_digest(archive), progress=False)
    assert not (folder / "val" / "images").exists()
    assert sorted(p.name for p in (folder / "val" / "n01443537" / "images").iterdir()) == ["val_1.JPEG", "val_3.JPEG"]
    pool, test = tinyimagenet.load_pool_and_test(root, progress=False)
    assert pool.images.shape == (6, 3, 64, 64) and pool.images.dtype == torch.uint8
    assert pool.labels.tolist() == [0, 0, 0, 1, 1, 1] and test.labels.tolist() == [0, 0, 1, 1]
    red = pool.images[0].float().mean(dim=(1, 2))
    assert red[0] > 150 and red[2] < 80  # sorted wnids: class 0 is the red one
    assert (pool.images[2, 0] == pool.images[2, 1]).all()  # grayscale JPEG expanded to 3 channels
    cached, _ = tinyimagenet.load_pool_and_test(root, progress=False)  # second load reads the .npy cache
    assert (folder / tinyimagenet.CACHE / "train_images.npy").is_file()
    assert torch.equal(cached.images, pool.images)


def test_tiny_imagenet_bad_checksum_leaves_nothing(tmp_path: Path) -> None:
    archive = write_tiny_imagenet_zip(tmp_path)
    root = tmp_path / "data"
    with pytest.raises(SelrobError, match="checksum mismatch"):
        tinyimagenet.download(root, url=archive.as_uri(), md5="f" * 32, progress=False)
    assert not root.exists()  # not even the folder the download made


def test_tiny_imagenet_missing_folder_names_the_download_command(tmp_path: Path) -> None:
    with pytest.raises(SelrobError, match="selrob data download tinyimagenet"):
        tinyimagenet.load_pool_and_test(tmp_path, progress=False)
