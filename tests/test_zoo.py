"""The ImageNet model zoo: checkpoints in their published layouts convert key by key, code-running
pickles and wrong checksums are refused, models normalise [0, 1] input as their weights expect,
dissected layers have the paper's channel counts, zoo models are model sources."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision import models as tv

from selrob.cli import main
from selrob.data import imagenet
from selrob.errors import SelrobError
from selrob.store.sources import ModelSource
from selrob.zoo import ENTRIES, PAIRS, ZooModel, build_model, build_network, dissected_layers, pair_sources
from selrob.zoo.checkpoints import extract_state_dict
from selrob.zoo.commands import download_models, zoo_table
from selrob.zoo.weights import download, import_checkpoint, load_weights, status
from tests.test_imagenet_val import write_imagenet_val

MEAN, STD = imagenet.INFO.mean, imagenet.INFO.std


def robustness_checkpoint(state: dict[str, torch.Tensor], mean: tuple[float, ...] = MEAN) -> dict[str, object]:
    """What the robustness library's ``train_model`` saves: the state dict of
    ``DataParallel(AttackerModel)`` (normaliser, classifier, attacker with its normaliser and the
    same classifier again), the optimizer's and the schedule's state, the epoch, amp, accuracies."""
    normalizer = {"new_mean": torch.tensor(mean).view(3, 1, 1), "new_std": torch.tensor(STD).view(3, 1, 1)}
    model: OrderedDict[str, torch.Tensor] = OrderedDict()
    model.update({f"module.normalizer.{k}": v for k, v in normalizer.items()})
    model.update({f"module.model.{k}": v for k, v in state.items()})
    model.update({f"module.attacker.normalize.{k}": v for k, v in normalizer.items()})
    model.update({f"module.attacker.model.{k}": v for k, v in state.items()})  # the same tensors, as in the library
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(2))], lr=0.1, momentum=0.9, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30)
    return {"model": model, "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(), "epoch": 90,
            "amp": "N/A", "nat_prec1": torch.tensor(57.9), "adv_prec1": torch.tensor(35.2)}


def save_checkpoint(obj: object, path: Path) -> Path:
    """``torch.save`` with the standard pickle module: the library uses ``pickle_module=dill``, which
    is not installed here; for dicts of tensors and numbers dill writes the same pickle opcodes."""
    torch.save(obj, path)
    return path


def assert_same_weights(actual: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert list(actual) == list(expected)
    for key, value in expected.items():
        assert torch.equal(actual[key], value), key


def test_the_table_holds_the_papers_pairs_and_both_robust_resnets() -> None:
    assert list(ENTRIES) == ["alexnet", "googlenet", "resnet50", "resnet50-l2-eps3-madry", "resnet50-l2-eps3-salman",
                             "alexnet-r", "googlenet-r"]
    torchvision = {e.name: (e.file_name, e.sha256_prefix) for e in ENTRIES.values() if e.checkpoint_format == "torchvision"}
    assert torchvision == {"alexnet": ("alexnet-owt-7be5be79.pth", "7be5be79"),
                           "googlenet": ("googlenet-1378be20.pth", "1378be20"),
                           "resnet50": ("resnet50-0676ba61.pth", "0676ba61")}
    assert {e.name: e.clean_accuracy for e in ENTRIES.values() if e.arch == "resnet50" and e.training == "robust"} == {
        "resnet50-l2-eps3-madry": 57.90, "resnet50-l2-eps3-salman": 62.83}
    assert [e.name for e in ENTRIES.values() if e.url is None] == ["alexnet-r", "googlenet-r"]
    assert {p.name: (p.standard, p.robust) for p in PAIRS.values() if p.paper} == {
        "alexnet": ("alexnet", "alexnet-r"), "googlenet": ("googlenet", "googlenet-r"),
        "resnet50": ("resnet50", "resnet50-l2-eps3-madry")}
    for entry in ENTRIES.values():
        assert (entry.preprocessing.resize, entry.preprocessing.crop, entry.preprocessing.mean) == (256, 224, MEAN)


def test_a_robustness_checkpoint_converts_key_by_key(tmp_path: Path) -> None:
    entry = ENTRIES["resnet50-l2-eps3-madry"]
    network = tv.resnet50().eval()
    expected = network.state_dict()
    path = save_checkpoint(robustness_checkpoint(expected), tmp_path / "imagenet_l2_3_0.pt")
    weights = import_checkpoint(entry, path, tmp_path / "runs")
    assert weights == tmp_path / "runs" / "zoo" / entry.name / "weights.pt"
    assert_same_weights(load_weights(entry, tmp_path / "runs"), expected)
    record = json.loads((weights.parent / "weights.json").read_text())
    assert record["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert record["source_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() and record["status"] == "imported"
    model = ZooModel(entry, tmp_path / "runs").load_model()
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        # The zoo model runs channels-last (selrob.models.placement): equal up to the last bits.
        torch.testing.assert_close(model(x), network((x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)),
                                   atol=1e-4, rtol=1e-4)
    assert not model.training
    assert [entry.name, "resnet50", "robust", "imported", "57.90"] in [line.split() for line in zoo_table(tmp_path / "runs").splitlines()]


@pytest.mark.parametrize(("arch", "to_authors"), [
    # AlexNet-R: torchvision's classifier.6 is the authors' last_layer.
    ("alexnet", lambda key: key.replace("classifier.6.", "last_layer.")),
    # GoogLeNet-R: branch4.1 is the authors' branch4_conv; it keeps its aux heads.
    ("googlenet", lambda key: key.replace(".branch4.1.", ".branch4_conv.")),
])
def test_the_authors_r_models_map_onto_torchvision(arch: str, to_authors: Callable[[str], str]) -> None:
    # In memory (AlexNet's weights are 244 MB): the file path is the same as in the tests above and below.
    entry = ENTRIES[f"{arch}-r"]
    network = tv.googlenet(aux_logits=True, init_weights=False) if arch == "googlenet" else tv.alexnet()
    authors = {to_authors(key): value for key, value in network.state_dict().items()}
    assert authors.keys() != network.state_dict().keys()
    state = extract_state_dict(robustness_checkpoint(authors), entry, Path(f"{arch}-r.pt"))
    expected = {k: v for k, v in network.state_dict().items() if not k.startswith(("aux1.", "aux2."))}
    assert_same_weights(state, expected)
    build_model(entry, state, f"{arch}-r.pt")  # loads strictly


def test_a_pickle_that_would_run_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "marker"

    class RunsCode:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return os.system, (f"touch {marker}",)

    path = save_checkpoint({"model": RunsCode()}, tmp_path / "evil.pt")
    with pytest.raises(SelrobError, match=rf"refusing {path}: it would load (posix|os)\.system when read"):
        import_checkpoint(ENTRIES["resnet50-l2-eps3-madry"], path, tmp_path / "runs")
    assert not marker.exists()
    assert not (tmp_path / "runs").exists()


def _zip_of_text(path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not weights")


@pytest.mark.parametrize(("content", "message"), [
    (lambda path: path.write_bytes(b""), "is empty, not a PyTorch checkpoint"),
    (lambda path: path.write_text("name,weight\nconv1,0.5\n"), r"is not a PyTorch checkpoint \(a file written by torch.save\)"),
    (lambda path: path.write_bytes(path.with_suffix(".whole").read_bytes()[:5000]),
     r"is not a complete PyTorch checkpoint: it is cut short \(its zip end record is missing\)"),
    (_zip_of_text, "is a zip archive, not a PyTorch checkpoint"),
], ids=["empty", "text", "truncated", "other zip"])
def test_a_file_that_is_no_complete_checkpoint_is_one_plain_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], content: Callable[[Path], None], message: str) -> None:
    torch.save({"features.0.weight": torch.zeros(64, 3, 11, 11)}, tmp_path / "alexnet-r.whole")
    content(tmp_path / "alexnet-r.pt")
    assert main(["zoo", "import", "alexnet-r", str(tmp_path / "alexnet-r.pt"), "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and re.fullmatch(
        rf"selrob: error: {re.escape(str(tmp_path / 'alexnet-r.pt'))} {message}\n", err), err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("name", "checkpoint", "message"), [
    ("resnet50-l2-eps3-madry", {"state_dict": {"conv1.weight": torch.zeros(1)}}, "is not a robustness-library checkpoint"),
    ("resnet50-l2-eps3-madry", {"model": {"module.foo.weight": torch.zeros(1)}}, r"keys such as \['module.foo.weight'\]"),
    ("resnet50-l2-eps3-madry", [1, 2], "is not a robustness-library checkpoint"),
    ("resnet50-l2-eps3-madry", robustness_checkpoint({"conv1.weight": torch.zeros(64, 3, 7, 7)}, mean=(0.5, 0.5, 0.5)),
     r"normalises with new_mean \[0.5, 0.5, 0.5\]"),
    ("resnet50-l2-eps3-madry", robustness_checkpoint({"conv1.weight": torch.zeros(64, 3, 7, 7)}),
     r"does not fit torchvision's resnet50: \d+ missing keys \['bn1.weight'"),
    ("resnet50", robustness_checkpoint({"conv1.weight": torch.zeros(1)}), "looks like a robustness-library checkpoint"),
    ("resnet50", {"conv1.weight": torch.zeros(3)}, r"does not fit torchvision's resnet50: size mismatch for conv1.weight"),
])
def test_other_layouts_and_missing_keys_are_refused(tmp_path: Path, name: str, checkpoint: object, message: str) -> None:
    entry = dataclasses.replace(ENTRIES[name], sha256_prefix=None)  # the layout is what is tested
    path = save_checkpoint(checkpoint, tmp_path / "checkpoint.pt")
    with pytest.raises(SelrobError, match=message) as refused:
        import_checkpoint(entry, path, tmp_path / "runs")
    assert str(path) in str(refused.value) and "\n" not in str(refused.value)
    assert status(entry, tmp_path / "runs") == "missing"


def test_downloads_are_checked_against_the_published_sha256_prefix(tmp_path: Path) -> None:
    # torchvision's GoogLeNet file keeps the aux heads; the zoo drops them.
    network = tv.googlenet(aux_logits=True, init_weights=False)
    published = save_checkpoint(network.state_dict(), tmp_path / "googlenet-00000000.pth")
    url = published.as_uri()
    runs, data = tmp_path / "runs", tmp_path / "data"
    wrong = dataclasses.replace(ENTRIES["googlenet"], url=url, sha256_prefix="deadbeef")
    with pytest.raises(SelrobError, match=f"checksum mismatch for {url}: expected a SHA-256 starting with deadbeef"):
        download(wrong, runs, data, progress=False)
    assert list((data / "zoo").iterdir()) == [] and status(wrong, runs) == "missing"
    with pytest.raises(SelrobError, match="checksum mismatch for .*googlenet-00000000.pth"):
        import_checkpoint(wrong, published, runs)
    right = dataclasses.replace(wrong, sha256_prefix=hashlib.sha256(published.read_bytes()).hexdigest()[:8])
    weights = download(right, runs, data, progress=False)
    assert (data / "zoo" / "googlenet-00000000.pth").is_file() and status(right, runs) == "downloaded"
    assert_same_weights(load_weights(right, runs), {k: v for k, v in network.state_dict().items() if not k.startswith("aux")})
    published.unlink()
    assert download(right, runs, data, progress=False) == weights  # converted once: nothing is fetched again


def test_download_all_skips_import_only_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    published = save_checkpoint(tv.googlenet(aux_logits=True, init_weights=False).state_dict(), tmp_path / "g.pth")
    from selrob.zoo import commands

    prefix = hashlib.sha256(published.read_bytes()).hexdigest()[:8]
    entries = {"googlenet": dataclasses.replace(ENTRIES["googlenet"], url=published.as_uri(), sha256_prefix=prefix),
               "googlenet-r": ENTRIES["googlenet-r"]}
    monkeypatch.setattr(commands, "ENTRIES", entries)
    lines = download_models("all", tmp_path / "runs", tmp_path / "data", progress=False)
    assert lines[0] == f"googlenet: {tmp_path / 'runs' / 'zoo' / 'googlenet' / 'weights.pt'}"
    assert lines[1].startswith("googlenet-r: import-only: get it from the paper authors' Google Drive folder")


@pytest.mark.parametrize(("arch", "channels"), [("alexnet", 1152), ("googlenet", 5808), ("resnet50", 3904)])
def test_dissected_layers_have_the_papers_channel_counts(arch: str, channels: int) -> None:
    entry = next(e for e in ENTRIES.values() if e.arch == arch)
    model = build_model(entry)
    outputs: list[torch.Tensor] = []
    for name in dissected_layers(arch):
        model.backbone.get_submodule(name).register_forward_hook(lambda module, args, output: outputs.append(output))
    with torch.no_grad():
        logits = model(torch.rand(1, 3, 64, 64))  # the smallest size AlexNet takes; widths do not depend on it
    assert logits.shape == (1, 1000)
    assert len(outputs) == len(dissected_layers(arch)) and sum(o.shape[1] for o in outputs) == channels
    assert all(o.min() >= 0 for o in outputs)  # post-ReLU


def test_googlenet_sees_input_in_the_convention_of_its_weights() -> None:
    assert ENTRIES["googlenet"].transform_input and not ENTRIES["googlenet-r"].transform_input
    assert not any(e.transform_input for e in ENTRIES.values() if e.arch != "googlenet")
    x = torch.rand(2, 3, 64, 64)
    standard, robust = build_model(ENTRIES["googlenet"]), build_model(ENTRIES["googlenet-r"])
    bare = build_network("googlenet").eval()
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    with torch.no_grad():
        bare.load_state_dict(standard.backbone.state_dict())
        # torchvision's GoogLeNet weights were trained on (x - 0.5) / 0.5 (ported from TensorFlow).
        torch.testing.assert_close(standard(x), bare((x - 0.5) / 0.5), atol=1e-4, rtol=1e-4)
        bare.load_state_dict(robust.backbone.state_dict())
        # GoogLeNet-R was trained behind the robustness library's ImageNet normaliser.
        torch.testing.assert_close(robust(x), bare((x - mean) / std), atol=1e-4, rtol=1e-4)


def test_zoo_models_are_model_sources(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    standard, robust = pair_sources("resnet50", runs, eval_samples=3)
    assert isinstance(standard, ModelSource) and robust.entry.name == "resnet50-l2-eps3-madry"
    assert standard.identity == {"dataset": "imagenet", "arch": "resnet50", "model": "resnet50", "training": "standard",
                                 "seed": 0}
    assert (standard.name, standard.dataset, standard.seed) == ("imagenet/zoo/resnet50@missing", "imagenet", 0)
    assert standard.evaluations_dir == runs / "zoo" / "resnet50" / "evaluations" / "missing"
    with pytest.raises(SelrobError, match="zoo model resnet50 is not there yet; run `selrob zoo download resnet50`"):
        standard.load_model()
    imagenet.prepare_val(tmp_path, progress=False, **write_imagenet_val(tmp_path))
    test = standard.test_set(tmp_path)
    assert test.images.shape == (3, 3, 224, 224) and test.labels.tolist() == [1, 0, 0]
    assert len(dataclasses.replace(standard, eval_samples=None).test_set(tmp_path)) == 5


def test_a_reimported_model_gets_its_own_results(tmp_path: Path) -> None:
    entry = ENTRIES["googlenet-r"]
    folders = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        state = {k.replace(".branch4.1.", ".branch4_conv."): v for k, v in build_network("googlenet").state_dict().items()}
        import_checkpoint(entry, save_checkpoint(robustness_checkpoint(state), tmp_path / f"g{seed}.pt"), tmp_path / "runs")
        model = ZooModel(entry, tmp_path / "runs")
        folders.append((model.name, model.evaluations_dir))
    # Cached evaluations of the first checkpoint are not those of the second.
    assert folders[0] != folders[1] and folders[0][1].parent == folders[1][1].parent


def test_altered_weights_are_refused(tmp_path: Path) -> None:
    entry = ENTRIES["googlenet-r"]
    state = {k.replace(".branch4.1.", ".branch4_conv."): v for k, v in build_network("googlenet").state_dict().items()}
    weights = import_checkpoint(entry, save_checkpoint(robustness_checkpoint(state), tmp_path / "g.pt"), tmp_path / "runs")
    with open(weights, "r+b") as handle:
        handle.seek(-1, os.SEEK_END)
        handle.write(b"\x00" if handle.read(1) != b"\x00" else b"\x01")
    with pytest.raises(SelrobError, match=f"{weights} does not match the SHA-256 in .*weights.json; convert it again"):
        ZooModel(entry, tmp_path / "runs").load_model()


@pytest.mark.parametrize(("args", "fragment"), [
    (["zoo", "download", "vgg"], "unknown zoo model 'vgg'; choose all or one of: alexnet, googlenet, resnet50, "),
    (["zoo", "download", "alexnet-r"], "alexnet-r has no public download: get it from the paper authors' Google Drive"),
    (["zoo", "import", "vgg", "x.pt"], "unknown zoo model 'vgg'; choose one of: alexnet, "),
    (["zoo", "import", "alexnet-r", "/nonexistent/alexnet-r.pt"], "checkpoint /nonexistent/alexnet-r.pt does not exist"),
    (["zoo"], "the following arguments are required: {list,download,import}"),
    (["zoo", "import", "alexnet-r"], "the following arguments are required: path"),
])
def test_bad_zoo_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str) -> None:
    try:
        code = main([*args, *(["--runs-dir", str(tmp_path / "runs")] if len(args) > 2 else [])])
    except SystemExit as exit:  # argparse's own errors
        code = int(exit.code or 0)
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("selrob: error: ") and fragment in lines[0]
    assert not (tmp_path / "runs").exists()


def test_zoo_list_names_every_model(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["zoo", "list", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["name", "arch", "training", "status", "top-1", "%"]
    assert out[1].split() == ["alexnet", "alexnet", "standard", "missing", "56.52"]
    assert out[7].split() == ["googlenet-r", "googlenet", "robust", "missing", "43.57"]
    assert out[8].startswith("S/R pairs: alexnet (alexnet / alexnet-r)")
