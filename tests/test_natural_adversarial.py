"""ImageNet-A restricted to Tiny ImageNet's classes (appendix A.6), on small files in the real
folder format: the wnid intersection, resizing, caching, bad files, and restricted accuracy."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from selrob.evaluations import EvaluationContext, EvaluationSettings
from selrob.evaluations.natural_adversarial import evaluate_natural_adversarial
from selrob.measures.evaluate import restricted_accuracy
from selrob.config import resolve_config
from selrob.data import imagenet_a, tinyimagenet
from selrob.data.base import ImageSet
from selrob.data.download import file_digest
from selrob.errors import SelrobError
from selrob.tables.evaluations import evaluation_table
from selrob.tables.runs import load_results
from selrob.training import train_run
from tests.test_data import write_tiny_imagenet_zip

TINY_WNIDS = ["n01443537", "n01629819", "n01641577", "n01644900"]
A_FOLDERS = {"n01498041": 2, "n01629819": 2, "n01641577": 3}  # the first is not a Tiny ImageNet class


def write_data(root: Path) -> Path:
    """``root/tiny-imagenet-200/wnids.txt`` and ``root/imagenet-a/<wnid>/*.jpg`` of odd sizes."""
    tiny = root / tinyimagenet.FOLDER
    tiny.mkdir(parents=True)
    (tiny / "wnids.txt").write_text("\n".join(reversed(TINY_WNIDS)) + "\n")
    folder = root / imagenet_a.FOLDER
    rng = np.random.default_rng(0)
    for wnid, count in A_FOLDERS.items():
        (folder / wnid).mkdir(parents=True)
        for k in range(count):
            size = (int(rng.integers(70, 300)), int(rng.integers(70, 300)))
            Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(folder / wnid / f"0.{k}.jpg")
    (folder / "README.txt").write_text("ImageNet-A\n")
    return folder


def test_shared_classes_are_the_wnid_intersection_with_tiny_imagenet_labels(tmp_path: Path) -> None:
    folder = write_data(tmp_path)
    natural = imagenet_a.load_natural_adversarial(tmp_path, progress=False)
    assert natural.wnids == ["n01629819", "n01641577"]
    assert natural.class_indices == [1, 2]  # positions in the sorted Tiny ImageNet wnids
    assert natural.data.images.shape == (5, 3, 64, 64) and natural.data.images.dtype == torch.uint8
    assert natural.data.labels.tolist() == [1, 1, 2, 2, 2]
    with Image.open(folder / "n01641577" / "0.1.jpg") as image:
        expected = np.asarray(image.convert("RGB").resize((64, 64), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(natural.data.images[3].permute(1, 2, 0).numpy(), expected)
    again = imagenet_a.load_natural_adversarial(tmp_path, progress=False)  # from the cache
    assert torch.equal(again.data.images, natural.data.images) and again.fingerprint == natural.fingerprint


def test_missing_data_and_unreadable_images_are_one_line_errors(tmp_path: Path) -> None:
    assert "Tiny ImageNet only" in imagenet_a.unavailable_reason("digits", tmp_path)
    assert "selrob data download imagenet-a" in imagenet_a.unavailable_reason("tinyimagenet", tmp_path)
    with pytest.raises(SelrobError, match="selrob data download imagenet-a"):
        imagenet_a.load_natural_adversarial(tmp_path)
    folder = write_data(tmp_path)
    assert imagenet_a.unavailable_reason("tinyimagenet", tmp_path) is None
    (folder / "n01629819" / "0.0.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(SelrobError, match="cannot read .*0.0.jpg"):
        imagenet_a.load_natural_adversarial(tmp_path, progress=False)


def test_download_verifies_the_archive_and_extracts_the_class_folders(tmp_path: Path) -> None:
    source = write_data(tmp_path / "src")
    archive = tmp_path / imagenet_a.ARCHIVE
    with tarfile.open(archive, "w") as tf:
        tf.add(source, arcname=imagenet_a.FOLDER)
    with pytest.raises(SelrobError, match="(?i)md5|checksum"):
        imagenet_a.download(tmp_path / "bad", url=archive.as_uri(), md5="0" * 32, progress=False)
    folder = imagenet_a.download(tmp_path / "data", url=archive.as_uri(), md5=file_digest(archive), progress=False)
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == sorted(A_FOLDERS)


class FixedLogits(nn.Module):
    """Ignores its input: logits from a table, one row per image in order."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits
        self.seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.logits[self.seen : self.seen + len(x)]
        self.seen += len(x)
        return out


def test_restricted_accuracy_takes_the_argmax_over_the_shared_classes_only() -> None:
    logits = torch.tensor([
        [9.0, 1.0, 0.0, 5.0],   # overall class 0, among {1, 3}: class 3 -> right (label 3)
        [0.0, 2.0, 9.0, 1.0],   # overall class 2, among {1, 3}: class 1 -> right (label 1)
        [0.0, 1.0, 0.0, 2.0],   # class 3, label 1 -> wrong
    ])
    data = ImageSet(torch.zeros(3, 3, 4, 4, dtype=torch.uint8), torch.tensor([3, 1, 1]))
    assert restricted_accuracy(FixedLogits(logits), data, [1, 3]) == pytest.approx(2 / 3)
    assert restricted_accuracy(FixedLogits(logits), data, [0, 1, 2, 3]) == 0.0


def test_tiny_imagenet_runs_are_evaluated_and_cached(tmp_path: Path) -> None:
    data_root = tmp_path / "data"
    archive = write_tiny_imagenet_zip(tmp_path)
    tinyimagenet.download(data_root, url=archive.as_uri(), md5=file_digest(archive), progress=False)
    write_data(tmp_path / "a")
    (tmp_path / "a" / imagenet_a.FOLDER).rename(data_root / imagenet_a.FOLDER)
    config = resolve_config("tinyimagenet", "resnet18", smoke=True, epochs=1, milestones=[1], val_per_class=1,
                            batch_size=2)
    run = train_run(config, tmp_path / "runs", data_root, progress=False)
    runs = load_results(tmp_path / "runs")
    settings = EvaluationSettings(data_root=str(data_root))
    table = evaluation_table("natural-adversarial", runs, settings, progress=False)
    assert len(table) == 1 and 0 <= table["accuracy"].iloc[0] <= 1
    shared = imagenet_a.shared_wnids(data_root / imagenet_a.FOLDER, tinyimagenet.read_wnids(data_root / tinyimagenet.FOLDER))
    assert shared and table["chance"].iloc[0] == pytest.approx(1 / len(shared))
    assert evaluate_natural_adversarial(run, EvaluationContext("tinyimagenet", settings)) == table["accuracy"].iloc[0]
    assert list(run.evaluations_dir.glob("natural-adversarial-*.json"))
    with pytest.raises(SelrobError, match="Tiny ImageNet only"):
        EvaluationContext("digits", settings).natural
