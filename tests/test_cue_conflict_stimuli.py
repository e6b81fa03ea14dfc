"""Geirhos et al.'s cue-conflict stimuli: the packaged manifest's facts, verification file by file,
both download methods (from local URLs), loading in both preprocessings, and the cached
``cue-conflict`` evaluation of a fake 1000-class ImageNet model on synthetic stimuli."""

from __future__ import annotations

import hashlib
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torchvision import transforms

from selrob.cli import main
from selrob.data import cue_conflict_stimuli as stimuli
from selrob.errors import SelrobError
from selrob.evaluations import EvaluationContext, EvaluationSettings, get_evaluation
from selrob.evaluations.cue_conflict import evaluate_cue_conflict
from selrob.tables.evaluations import evaluation_table, headline_table
from support.fakes import FakeSource

RED, GREEN, BLUE, YELLOW = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)
#: Synthetic stimuli by relpath, each a solid colour that :class:`ColourModel` decides on.
COLOURED = {
    "airplane/airplane1-bear1.png": RED,         # airplane: shape
    "airplane/airplane2-bear2.png": GREEN,       # bear: texture
    "airplane/airplane1-airplane1.png": RED,     # no conflict
    "bear/bear1-airplane2.png": GREEN,           # bear: shape
    "bear/bear1-bicycle1.png": BLUE,             # bicycle: texture
    "bear/bear2-bicycle3.png": YELLOW,           # airplane (mean over classes, see ColourModel): other
}


def png(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def write_manifest(path: Path, folder: Path, relpaths: list[str]) -> Path:
    """A manifest in the packaged format for the files below ``folder``."""
    lines = ["\t".join(stimuli.MANIFEST_COLUMNS)]
    for relpath in relpaths:
        data = (folder / relpath).read_bytes()
        shape, texture = stimuli.parse_name(relpath.split("/")[1])
        lines.append(f"{relpath}\t{len(data)}\t{hashlib.sha256(data).hexdigest()}\t{shape}\t{texture}\t"
                     f"{int(shape != texture)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_stimuli(root: Path, noise: bool = False) -> Path:
    """:data:`COLOURED` as 224 px PNGs in ``root/cue-conflict`` (random pixels with ``noise``);
    returns their manifest."""
    rng = np.random.default_rng(0)
    folder = root / stimuli.FOLDER
    for relpath, colour in COLOURED.items():
        pixels = (rng.integers(0, 256, (224, 224, 3), dtype=np.uint8) if noise
                  else np.broadcast_to(np.array(colour, dtype=np.uint8), (224, 224, 3)).copy())
        png(folder / relpath, pixels)
    return write_manifest(root / "manifest.tsv", folder, list(COLOURED))


def test_the_packaged_manifest_lists_geirhos_et_al_s_1280_stimuli() -> None:
    manifest = stimuli.read_manifest()
    assert len(manifest) == 1280 and sum(s.size for s in manifest) == 136_489_547
    assert sum(s.conflict for s in manifest) == 1200
    assert Counter(s.shape for s in manifest) == {category: 80 for category in stimuli.CATEGORIES}
    assert Counter(s.shape for s in manifest if not s.conflict) == {category: 5 for category in stimuli.CATEGORIES}
    assert list(stimuli.CATEGORIES) == sorted(stimuli.CATEGORIES) and len(stimuli.CATEGORIES) == 16
    assert manifest[0] == stimuli.Stimulus("airplane/airplane1-bicycle2.png", 122271,
                                           "ab9d4e50381418a13e6ea80f9485f91a189f6c271a81db5d0806f110b5826750",
                                           "airplane", "bicycle")
    assert stimuli.MANIFEST.is_file()  # package data (pyproject.toml), found wherever selrob is installed


def test_names_give_the_cues_and_a_manifest_row_must_agree_with_its_name(tmp_path: Path) -> None:
    assert stimuli.parse_name("airplane1-bicycle2.png") == ("airplane", "bicycle")
    assert stimuli.parse_name("dog10-dog3.png") == ("dog", "dog")
    for bad in ("airplane1-bicycle2.jpg", "plane1-bicycle2.png", "airplane-bicycle2.png"):
        with pytest.raises(SelrobError, match="not a cue-conflict file name"):
            stimuli.parse_name(bad)
    header = "\t".join(stimuli.MANIFEST_COLUMNS)
    for row in ("bear/airplane1-bicycle2.png\t1\tab\tairplane\tbicycle\t1",   # folder is not the shape
                "airplane/airplane1-bicycle2.png\t1\tab\tairplane\tbear\t1",  # texture column is wrong
                "airplane/airplane1-airplane2.png\t1\tab\tairplane\tairplane\t1"):  # no conflict
        (tmp_path / "m.tsv").write_text(f"{header}\n{row}\n")
        with pytest.raises(SelrobError, match="disagrees with its name"):
            stimuli.read_manifest(tmp_path / "m.tsv")
    (tmp_path / "m.tsv").write_text("relpath\tbytes\n")
    with pytest.raises(SelrobError, match="must have the columns"):
        stimuli.read_manifest(tmp_path / "m.tsv")


def test_verification_names_the_missing_the_differing_and_the_unlisted_files(tmp_path: Path) -> None:
    manifest = stimuli.read_manifest(write_stimuli(tmp_path))
    report = stimuli.verify_stimuli(tmp_path, manifest)
    assert report.ok and report.verified == 6 and "6 of 6" in report.summary()
    folder = tmp_path / stimuli.FOLDER
    (folder / "bear/bear1-bicycle1.png").unlink()
    (folder / "bear/bear2-bicycle3.png").write_bytes(b"truncated")
    original = (folder / "airplane/airplane1-bear1.png").read_bytes()
    (folder / "airplane/airplane1-bear1.png").write_bytes(bytes([original[0] ^ 1]) + original[1:])  # same size
    png(folder / "dog/dog1-cat1.png", np.zeros((4, 4, 3), dtype=np.uint8))
    report = stimuli.verify_stimuli(tmp_path, manifest)
    assert not report.ok and report.verified == 3
    assert report.missing == ("bear/bear1-bicycle1.png",) and report.unexpected == ("dog/dog1-cat1.png",)
    assert dict(report.different).keys() == {"airplane/airplane1-bear1.png", "bear/bear2-bicycle3.png"}
    assert "9 bytes, expected" in dict(report.different)["bear/bear2-bicycle3.png"]
    assert "SHA-256" in dict(report.different)["airplane/airplane1-bear1.png"]
    summary = report.summary()
    assert "3 of 6" in summary and "1 missing: bear/bear1-bicycle1.png" in summary and "2 differ" in summary


def test_download_of_single_files_checks_each_and_completes_a_partial_folder(tmp_path: Path) -> None:
    manifest = stimuli.read_manifest(write_stimuli(tmp_path / "src"))
    url = (tmp_path / "src" / stimuli.FOLDER).as_uri() + "/{relpath}"
    folder = stimuli.download(tmp_path / "data", "files", manifest, url=url, progress=False)
    assert folder == tmp_path / "data" / stimuli.FOLDER and stimuli.verify_stimuli(tmp_path / "data", manifest).ok
    (folder / "bear/bear1-airplane2.png").unlink()
    stimuli.download(tmp_path / "data", "files", manifest, url=url, progress=False)
    assert stimuli.verify_stimuli(tmp_path / "data", manifest).ok
    (tmp_path / "src" / stimuli.FOLDER / "bear/bear1-airplane2.png").write_bytes(b"changed upstream")
    (folder / "bear/bear1-airplane2.png").unlink()
    with pytest.raises(SelrobError, match="checksum mismatch"):
        stimuli.download(tmp_path / "data", "files", manifest, url=url, progress=False)
    with pytest.raises(SelrobError, match="unknown download method"):
        stimuli.download(tmp_path / "data", "torrent", manifest)


def test_download_of_the_archive_adopts_only_files_that_match_the_manifest(tmp_path: Path) -> None:
    manifest = stimuli.read_manifest(write_stimuli(tmp_path / "src"))
    source = tmp_path / "src" / stimuli.FOLDER
    (source / "airplane/airplane1-bear1.png").rename(source / "airplane/0001_cl_airplane1-bear1.png")  # prefixed
    (source / "bear/bear1-bicycle1.png").write_bytes(b"re-encoded")
    (source / "bear/bear2-bicycle3.png").unlink()
    archive = tmp_path / "cue-conflict.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(source, arcname=stimuli.FOLDER)
    with pytest.raises(SelrobError) as error:
        stimuli.download(tmp_path / "data", "archive", manifest, url=archive.as_uri(), progress=False)
    message = str(error.value)
    assert "4 of 6" in message and "bear/bear1-bicycle1.png" in message and "bear/bear2-bicycle3.png" in message
    assert "'files'" in message
    assert (tmp_path / "data" / stimuli.ARCHIVE).is_file()  # kept: a second call does not download again
    assert not [p for p in (tmp_path / "data").iterdir() if p.name.startswith(".")]  # no staging left behind
    report = stimuli.verify_stimuli(tmp_path / "data", manifest)
    assert report.missing == ("bear/bear1-bicycle1.png", "bear/bear2-bicycle3.png") and not report.different


def test_a_placed_archive_is_adopted_and_a_failed_download_leaves_no_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """``selrob data download cue-conflict`` (the files method) adopts an archive placed in the data
    folder and fetches only what it lacks; when that fetch fails, no folder it made is left."""
    manifest = stimuli.read_manifest(write_stimuli(tmp_path / "src"))
    monkeypatch.setattr(stimuli, "read_manifest", lambda path=None: manifest)
    monkeypatch.setattr(stimuli, "RAW_URL", (tmp_path / "offline").as_uri() + "/{relpath}")  # nothing there
    data = tmp_path / "new" / "folders" / "data"
    assert main(["data", "download", "cue-conflict", "--data-dir", str(data)]) == 2
    assert "could not download" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
    data.mkdir(parents=True)
    (data / stimuli.ARCHIVE).write_bytes(b"half a download")
    assert main(["data", "download", "cue-conflict", "--data-dir", str(data)]) == 2
    assert f"delete {data / stimuli.ARCHIVE} or replace it with {stimuli.ARCHIVE_URL}" in capsys.readouterr().err
    (tmp_path / "src" / stimuli.FOLDER / "bear/bear2-bicycle3.png").unlink()
    with tarfile.open(data / stimuli.ARCHIVE, "w:gz") as tf:
        tf.add(tmp_path / "src" / stimuli.FOLDER, arcname=stimuli.FOLDER)
    assert main(["data", "download", "cue-conflict", "--data-dir", str(data)]) == 2
    assert "bear2-bicycle3.png" in capsys.readouterr().err  # the one file the archive lacks
    assert stimuli.verify_stimuli(data, manifest).missing == ("bear/bear2-bicycle3.png",)
    write_stimuli(tmp_path / "full")
    monkeypatch.setattr(stimuli, "RAW_URL", (tmp_path / "full" / stimuli.FOLDER).as_uri() + "/{relpath}")
    assert main(["data", "download", "cue-conflict", "--data-dir", str(data)]) == 0
    assert stimuli.verify_stimuli(data, manifest).ok


def test_loading_gives_uint8_images_with_cues_in_either_preprocessing(tmp_path: Path) -> None:
    manifest = stimuli.read_manifest(write_stimuli(tmp_path, noise=True))
    as_is = stimuli.load_stimuli(tmp_path, "as-is", manifest)
    assert as_is.data.images.shape == (6, 3, 224, 224) and as_is.data.images.dtype == torch.uint8
    assert as_is.files == tuple(COLOURED)
    names = [(stimuli.CATEGORIES[s], stimuli.CATEGORIES[t]) for s, t in zip(as_is.shapes, as_is.textures)]
    assert names == [stimuli.parse_name(relpath.split("/")[1]) for relpath in COLOURED]
    assert as_is.conflict.tolist() == [True, True, False, True, True, True]
    path = tmp_path / stimuli.FOLDER / "bear/bear1-bicycle1.png"
    with Image.open(path) as image:
        np.testing.assert_array_equal(as_is.data.images[4].permute(1, 2, 0).numpy(), np.asarray(image))
        # The paper's repository: torchvision's Resize(256) + CenterCrop(224) on the PIL image.
        expected = np.asarray(transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])(image))
    resized = stimuli.load_stimuli(tmp_path, "resize-crop", manifest)
    np.testing.assert_array_equal(resized.data.images[4].permute(1, 2, 0).numpy(), expected)
    assert not torch.equal(resized.data.images, as_is.data.images)
    with pytest.raises(SelrobError, match="unknown cue-conflict preprocessing 'center'"):
        stimuli.load_stimuli(tmp_path, "center", manifest)


def test_missing_or_unverified_stimuli_are_one_line_errors_naming_the_download(tmp_path: Path) -> None:
    with pytest.raises(SelrobError, match="not found in .*selrob data download cue-conflict --data-dir"):
        stimuli.load_stimuli(tmp_path)
    manifest = stimuli.read_manifest(write_stimuli(tmp_path))
    (tmp_path / stimuli.FOLDER / "bear/bear1-bicycle1.png").unlink()
    with pytest.raises(SelrobError, match="5 of 6 .*1 missing: bear/bear1-bicycle1.png.*selrob data download"):
        stimuli.load_stimuli(tmp_path, "as-is", manifest)


class ColourModel(nn.Module):
    """1000 logits from the mean colour of a [0, 1] image: red -> airplane (404), green -> one of
    bear's four classes (294), blue -> one of bicycle's two (444). Yellow gives 404 and 294 the
    same logit: airplane's mean probability (one class) beats bear's (four)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 1000, bias=False)
        with torch.no_grad():
            self.linear.weight.zero_()
            for channel, imagenet_class in enumerate((404, 294, 444)):
                self.linear.weight[imagenet_class, channel] = 10.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.mean(dim=(2, 3)))


def colour_source(root: Path, dataset: str = "imagenet") -> FakeSource:
    """An ImageNet model source around a new :class:`ColourModel` per load."""
    return FakeSource(root, ColourModel, dataset=dataset, identity={"model": "colour"}, name="colour")


def test_the_evaluation_caches_16_class_decisions_per_preprocessing(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stimuli, "MANIFEST", write_stimuli(tmp_path / "data"))
    source = colour_source(tmp_path / "evaluations")
    settings = EvaluationSettings(data_root=str(tmp_path / "data"), device="cpu")
    table = evaluation_table("cue-conflict", [source], settings, progress=False)
    assert table["file"].tolist() == list(COLOURED)
    assert table["decision"].tolist() == ["airplane", "bear", "airplane", "bear", "bicycle", "airplane"]
    assert table["cue"].tolist() == ["shape", "texture", "no-conflict", "shape", "texture", "other"]
    assert table["conflict"].tolist() == [True, True, False, True, True, True]
    # The controls are the set's non-conflict stimuli: only they say whether a control is right.
    assert table["control_correct"].tolist() == [None, None, True, None, None, None]
    assert table[["shape", "texture"]].iloc[1].tolist() == ["airplane", "bear"]
    assert headline_table("cue-conflict", table)["shape_decision"].iloc[0] == pytest.approx(2 / 4)
    # Cached: no second model load; another preprocessing is another entry.
    context = EvaluationContext("imagenet", settings)
    assert evaluate_cue_conflict(source, context)["decision"] == [0, 1, 0, 1, 2, 0] and source.loads == 1
    as_is = EvaluationContext("imagenet", EvaluationSettings(data_root=settings.data_root, device="cpu",
                                                             parameters={"cue_conflict_preprocessing": "as-is"}))
    assert not get_evaluation("cue-conflict").is_cached(source, as_is)
    evaluate_cue_conflict(source, as_is)
    assert source.loads == 2 and len(list(source.evaluations_dir.glob("cue-conflict-*.json"))) == 2
    with pytest.raises(SelrobError, match="no probe set or cue-conflict images for digits models"):
        evaluate_cue_conflict(colour_source(tmp_path / "other", dataset="digits"), context)
