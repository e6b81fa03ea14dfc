"""Researchers' own models: registered from a spec and a weights file (read without running code),
checked (output width, layers), evaluated with every measure, paired, reported on (notebook 14)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

import selrob
from selrob.cli import main
from selrob.errors import SelrobError
from selrob.evaluations.registry import registered_evaluations
from selrob.measures.units import UnitRecorder
from selrob.paths import notebooks_dir
from selrob.user_models import add_model, add_pair, get_model, model_source, pair_sources
from selrob.user_models.layers import check_layers, stage_layers, trace_modules
from selrob.user_models.spec import parse_spec
from selrob.user_models.weights import read_state, state_digest

NOTEBOOKS = notebooks_dir()

#: A user's own file: a small CNN for the shape-texture world (10 classes, 32 px), its units
#: functional ReLUs in named modules, and a factory that raises.
USER_FILE = '''
import torch
from torch import nn


class SmallCNN(nn.Module):
    def __init__(self, num_classes=10, width=8):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, padding=1)
        self.act1 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.act2 = nn.ReLU()
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x):
        x = self.pool(self.act1(self.conv1(x)))
        x = self.act2(self.conv2(x))
        return self.fc(x.mean(dim=(2, 3)))


def make(num_classes=10):
    return SmallCNN(num_classes)


def wide():
    return SmallCNN(10, width=12)


def five_classes():
    return SmallCNN(5)


def broken():
    raise ValueError("no GPU memory left")
'''


@pytest.fixture
def user_file(tmp_path: Path) -> Path:
    path = tmp_path / "my_cnn.py"
    path.write_text(USER_FILE)
    return path


def save_weights(user_file: Path, factory: str, path: Path, seed: int = 1, prefix: str = "") -> Path:
    """Random weights of ``factory`` in ``user_file``, as a checkpoint with a ``state_dict`` entry."""
    from selrob.user_models.spec import build_network

    torch.manual_seed(seed)
    network = build_network(parse_spec(f"{user_file}:{factory}"), 10)
    torch.save({"epoch": 3, "state_dict": {prefix + k: v for k, v in network.state_dict().items()}}, path)
    return path


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, list[str]]:
    try:
        code = main(args)
    except SystemExit as exit:  # argparse's own errors
        code = int(exit.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip().splitlines()


def test_a_model_from_a_users_file_is_registered_with_its_weights(user_file: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    weights = save_weights(user_file, "make", tmp_path / "w.pt", prefix="module.")  # saved from DataParallel
    code, out, err = run_cli(["model", "add", "cnn", "--dataset", "shapes", "--arch", f"{user_file}:make",
                              "--weights", str(weights), "--runs-dir", str(runs)], capsys)
    assert code == 0 and err == [] and "layers act1, act2; units every ReLU call" in out
    source = get_model("cnn", runs)
    state = torch.load(weights, weights_only=True)["state_dict"]
    loaded = source.load_model()
    # The same weights, prefixes stripped, behind an identity normalisation (none given).
    for key, value in state.items():
        torch.testing.assert_close(loaded.state_dict()["backbone." + key.removeprefix("module.")], value)
    assert source.identity == {"dataset": "shapes", "arch": "my_cnn.py:make", "model": "cnn", "training": "standard",
                               "seed": 0}
    assert source.record.digest == state_digest({k.removeprefix("module."): v for k, v in state.items()})
    assert source.evaluations_dir.parent == runs / "models" / "cnn" / "evaluations"
    assert source.dissected_layers == ("backbone.act1", "backbone.act2") and source.unit_layers is None
    code, out, _ = run_cli(["model", "list", "--runs-dir", str(runs)], capsys)
    assert out.splitlines()[1].split()[:5] == ["cnn", "shapes", f"{user_file}:make", "standard", "act1,act2"]
    code, out, _ = run_cli(["model", "remove", "cnn", "--runs-dir", str(runs)], capsys)
    assert code == 0 and not (runs / "models" / "cnn").exists()


#: ``selrob model add`` arguments ({file}: the user's file; {wide}: weights of another width;
#: {malicious}: a pickle that would run a command) and a fragment of the one error line.
BAD_INPUTS = [
    ("bad --dataset shapes --arch keras:resnet50", "unknown architecture spec 'keras:resnet50': 'keras' is neither"),
    ("bad --dataset shapes --arch torchvision:resnet_9000", "torchvision has no model 'resnet_9000'"),
    ("bad --dataset shapes --arch {file}:nothing", "{file} has no function 'nothing' to build the model with"),
    ("bad --dataset shapes --arch {file}:broken", "building {file}:broken raised ValueError: no GPU memory left"),
    ("bad --dataset shapes --arch {file}:make --weights {wide}", "{wide} does not fit {file}:make: size mismatch for "
                                                                 "conv1.weight ([12, 3, 3, 3] in the file, [8, 3, 3, 3] in the "
                                                                 "model; 5 keys of other shapes), 0 missing keys [], 0 unexpected"),
    ("bad --dataset shapes --arch {file}:five_classes", "outputs (2, 5) for 2 images; shapes has 10 classes, so it "
                                                        "must output (2, 10) logits"),
    ("bad --dataset shapes --arch {file}:make --layers conv3", "bad has no layer 'conv3' that runs in a forward pass; "
                                                               "modules with feature maps: act1, act2"),
    ("bad --dataset shapes --arch torchvision:resnet18 --layers layer1.0.relu",
     "'layer1.0.relu' of bad runs 2 times per forward pass, so it is not one layer; name 'layer1.0', which calls it once"),
    ("bad --dataset shapes --arch {file}:make --layers fc", "layer 'fc' of bad does not leave a feature map (N, C, H, W)"),
    ("bad --dataset shapes --arch {file}:make --layers pool", "layer 'pool' of bad ends in pooling"),
    ("bad --dataset shapes --arch {file}:make --mean 0.5", "give --mean and --std together"),
    ("bad --dataset shapes --arch {file}:make --mean 0.5 --std 0.2", "shapes images have 3 channels: give 3 values"),
    ("bad --dataset shapes --arch {file}:make --weights {malicious}", "refusing {malicious}: it would load"),
    ("bad --dataset mnist --arch {file}:make", "unknown dataset 'mnist'"),
    ("../escape --dataset shapes --arch {file}:make", "model name '../escape' is not allowed"),
]


class Boom:
    """Unpickling it would run ``os.system``: the weights reader must refuse before that."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return os.system, ("touch pwned",)


@pytest.mark.parametrize(("args", "fragment"), BAD_INPUTS, ids=[fragment[:30] for _, fragment in BAD_INPUTS])
def test_bad_model_input_is_one_line_exit_2_and_writes_nothing(args: str, fragment: str, user_file: Path,
                                                               tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    wide = save_weights(user_file, "wide", tmp_path / "wide.pt")
    malicious = tmp_path / "malicious.pt"
    torch.save({"state_dict": Boom()}, malicious)
    values = {"file": str(user_file), "wide": str(wide), "malicious": str(malicious)}
    runs = tmp_path / "runs"
    code, out, err = run_cli(["model", "add", *args.format(**values).split(), "--runs-dir", str(runs)], capsys)
    assert code == 2 and out == "" and len(err) == 1, err
    assert err[0].startswith("selrob: error: ") and fragment.format(**values) in err[0], err[0]
    assert files_under(runs) == [] and not (tmp_path / "pwned").exists()


def test_a_second_model_of_the_same_name_is_refused_and_the_first_kept(user_file: Path, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    add_model("cnn", "shapes", f"{user_file}:make", runs_root=runs)
    before = {p: p.read_bytes() for p in files_under(runs)}
    code, _, err = run_cli(["model", "add", "cnn", "--dataset", "shapes", "--arch", "torchvision:resnet18",
                            "--runs-dir", str(runs)], capsys)
    assert code == 2 and "a model called 'cnn' is registered already; `selrob model remove cnn` first" in err[0]
    assert {p: p.read_bytes() for p in files_under(runs)} == before


def test_default_layers_are_the_stages_post_relu_maps() -> None:
    torch.manual_seed(0)
    resnet = torchvision.models.resnet18(num_classes=10)
    trace = trace_modules(resnet, torch.rand(2, 3, 64, 64))
    # Per spatial size the last module run once with a post-ReLU map: the paper's ResNet-50 choice.
    assert stage_layers(trace) == ("relu", "layer1", "layer2", "layer3", "layer4")
    assert trace.calls["layer1.0.relu"] == 2 and trace.ancestor_called_once("layer1.0.relu") == "layer1.0"
    alexnet = torchvision.models.alexnet(num_classes=10)
    # Pooled maps (features.2, the container's output) are not a stage's post-ReLU map.
    assert stage_layers(trace_modules(alexnet, torch.rand(1, 3, 64, 64))) == ("features.1", "features.4", "features.11")
    with pytest.raises(SelrobError, match="'layer2.1.relu' of r18 runs 2 times per forward pass.*name 'layer2.1'"):
        check_layers(["layer2.1.relu"], trace, "r18")


@pytest.mark.slow
def test_torchvisions_paper_architectures_get_the_papers_layers(tmp_path: Path) -> None:
    source = add_model("r50", "imagenet", "torchvision:resnet50", runs_root=tmp_path)
    assert source.record.layers == ("relu", "layer1", "layer2", "layer3", "layer4")
    assert source.record.label == "resnet50" and source.record.unit_layers is None


def test_named_layers_are_the_units_of_the_first_papers_measures(user_file: Path, tmp_path: Path) -> None:
    source = add_model("cnn", "shapes", f"{user_file}:make", layers=["act2"], runs_root=tmp_path)
    assert source.unit_layers == ("backbone.act2",)
    model = source.load_model()
    with UnitRecorder(model, source.unit_layers) as units:
        model(torch.rand(3, 3, 32, 32))
    assert units.layer_names == ["backbone.act2:0"] and units.activations[0].shape == (3, 16)
    # Without named layers, every ReLU call: both modules here.
    with UnitRecorder(model) as every:
        model(torch.rand(3, 3, 32, 32))
    assert every.layer_names == ["backbone.act1:0", "backbone.act2:0"]


def test_a_network_without_post_relu_maps_reads_its_stages_outputs() -> None:
    """timm's ConvNeXt (GELU) leaves no non-negative map: the last map of each size is read."""
    stem = nn.Sequential(nn.Conv2d(3, 4, 2, stride=2), nn.GELU())
    network = nn.Sequential(stem, nn.Sequential(nn.Conv2d(4, 8, 2, stride=2), nn.GELU()), nn.Flatten(), nn.LazyLinear(10))
    trace = trace_modules(network, torch.rand(2, 3, 32, 32))
    assert not trace.non_negative and stage_layers(trace) == ("0", "1")


def test_a_network_without_relu_modules_reads_its_stage_layers_as_units(tmp_path: Path) -> None:
    class Functional(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.block = nn.Sequential(nn.Conv2d(4, 6, 3, padding=1), nn.Softplus())
            self.fc = nn.Linear(6, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.block(torch.relu(self.conv(x))).mean(dim=(2, 3)))

    source = model_source(Functional(), dataset="shapes", name="functional", runs_root=tmp_path)
    assert source.record.layers == ("block",) and source.unit_layers == ("backbone.block",)


def test_checkpoint_layouts_and_wrapper_prefixes(tmp_path: Path) -> None:
    state = {"conv.weight": torch.ones(2, 3, 1, 1)}
    for layout in (state, {"model_state_dict": state, "optimizer": {}}, {"net": state}):
        torch.save(layout, tmp_path / "w.pt")
        assert read_state(tmp_path / "w.pt").keys() == state.keys()
    torch.save({"epoch": 1}, tmp_path / "none.pt")
    with pytest.raises(SelrobError, match="none.pt holds no state dict"):
        read_state(tmp_path / "none.pt")
    # A prefix every key carries and the architecture's keys do not is a wrapper's, stripped (twice here).
    from selrob.user_models.weights import fit_state

    network = nn.Sequential(nn.Conv2d(3, 2, 1, bias=False))
    fit_state(network, {"module.model.0.weight": torch.full((2, 3, 1, 1), 2.0)}, "w.pt", "seq")
    assert torch.equal(network.state_dict()["0.weight"], torch.full((2, 3, 1, 1), 2.0))
    # An architecture whose own keys start with "model." keeps them.
    wrapped = nn.Module()
    wrapped.model = nn.Conv2d(3, 2, 1, bias=False)
    fit_state(wrapped, {"model.weight": torch.zeros(2, 3, 1, 1)}, "w.pt", "wrapped")
    assert torch.equal(wrapped.model.weight, torch.zeros(2, 3, 1, 1))
    with pytest.raises(SelrobError, match=r"w.pt does not fit seq: 1 missing keys \['0.weight'\], 1 unexpected \['0.bias'\]"):
        fit_state(network, {"0.bias": torch.zeros(2)}, "w.pt", "seq")


def test_the_python_api_caches_by_the_weights_and_the_layers(tmp_path: Path) -> None:
    torch.manual_seed(0)
    network = torchvision.models.resnet18(num_classes=10)
    source = selrob.model_source(network, dataset="shapes", name="r18", runs_root=tmp_path)
    table = selrob.evaluate(source, "kernel-tv")
    assert set(table["model"]) == {"r18"} and table["layer"].iloc[0] == "backbone.conv1"
    assert [p.name for p in source.evaluations_dir.iterdir() if p.name.startswith("kernel-tv")]
    same = selrob.model_source(network, dataset="shapes", name="r18", runs_root=tmp_path)
    assert same.evaluations_dir == source.evaluations_dir
    other_layers = selrob.model_source(network, dataset="shapes", name="r18", layers=["layer1", "layer2"],
                                       runs_root=tmp_path)
    torch.manual_seed(1)
    other_weights = selrob.model_source(torchvision.models.resnet18(num_classes=10), dataset="shapes", name="r18",
                                        runs_root=tmp_path)
    assert len({source.evaluations_dir, other_layers.evaluations_dir, other_weights.evaluations_dir}) == 3
    assert other_weights.record.digest != source.record.digest == other_layers.record.digest
    with pytest.raises(SelrobError, match="correct-subset compares a robust model with its standard partner"):
        selrob.evaluate(source, "correct-subset")
    with pytest.raises(SelrobError, match="natural-adversarial does not apply to shapes models: ImageNet-A shares"):
        selrob.evaluate(source, "natural-adversarial")


def test_timm_specs_build_through_timm_or_say_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    from selrob.user_models.spec import build_network

    monkeypatch.setitem(sys.modules, "timm", None)  # not installed
    with pytest.raises(SelrobError, match=r"timm:convnext_tiny needs timm, which is not installed: pip install 'selrob\[timm\]'"):
        build_network(parse_spec("timm:convnext_tiny"), 10)
    fake = types.ModuleType("timm")
    fake.list_models = lambda: ["tiny_net"]  # type: ignore[attr-defined]
    fake.create_model = lambda name, pretrained, num_classes: nn.Linear(3, num_classes)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "timm", fake)
    assert build_network(parse_spec("timm:tiny_net"), 7).out_features == 7
    with pytest.raises(SelrobError, match="timm has no model 'convnext_tiny'"):
        build_network(parse_spec("timm:convnext_tiny"), 10)


def test_results_are_keyed_by_the_dataset_and_the_code_too(user_file: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    network = torchvision.models.resnet18(num_classes=10)
    on_shapes = model_source(network, dataset="shapes", name="m", runs_root=tmp_path)
    on_cifar = model_source(network, dataset="cifar10", name="m", runs_root=tmp_path)
    assert on_shapes.evaluations_dir != on_cifar.evaluations_dir
    assert on_shapes.evaluations_dir.parents[2] == tmp_path / "python-models"  # not the registered models' folder
    source = add_model("cnn", "shapes", f"{user_file}:make", runs_root=tmp_path)
    assert source.record.code is not None and get_model("cnn", tmp_path).evaluations_dir == source.evaluations_dir
    user_file.write_text(USER_FILE.replace("x.mean(dim=(2, 3))", "x.amax(dim=(2, 3))"))
    with pytest.raises(SelrobError, match=r"my_cnn.py changed since `selrob model add cnn`; .*`selrob model remove cnn`"):
        get_model("cnn", tmp_path)


def test_a_users_file_imports_its_neighbours_and_factories_get_the_classes(tmp_path: Path) -> None:
    (tmp_path / "blocks.py").write_text("from torch import nn\nWIDTH = 6\n")
    (tmp_path / "net.py").write_text(USER_FILE.replace("import torch\n", "import torch\nfrom blocks import WIDTH\n")
                                     .replace("return SmallCNN(num_classes)", "return SmallCNN(num_classes, WIDTH)"))
    source = add_model("cnn", "shapes", f"{tmp_path / 'net.py'}:make", runs_root=tmp_path / "runs")
    assert source.load_model().backbone.conv1.out_channels == 6
    made = model_source(lambda num_classes: nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(num_classes)),
                        dataset="cifar10", name="lazy", runs_root=tmp_path)
    assert made.load_model()(torch.rand(1, 3, 32, 32)).shape == (1, 10)


def test_class_selectivity_refuses_units_that_are_not_post_relu(tmp_path: Path) -> None:
    network = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.GELU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))
    nn.init.constant_(network[0].bias, -3.0)  # GELU near -3: small negative values whatever the random weights
    source = model_source(network, dataset="shapes", name="gelu", runs_root=tmp_path)
    assert source.record.layers == ("1",) and source.unit_layers == ("backbone.1",)
    with pytest.raises(SelrobError, match=r"class selectivity \(Eq. 1\) needs non-negative \(post-ReLU\) units; layer "
                                          r"backbone.1:0 of shapes/python-models/gelu@.* has negative class means"):
        selrob.evaluate(source, "unit-selectivity")
    assert not any(source.evaluations_dir.glob("unit-selectivity*"))


def test_the_python_api_pairs_a_robust_model_with_any_standard_one(user_file: Path, tmp_path: Path) -> None:
    from selrob.user_models.spec import build_network

    torch.manual_seed(0)
    standard = model_source(torchvision.models.resnet18(num_classes=10), dataset="shapes", name="s", runs_root=tmp_path)
    robust = model_source(build_network(parse_spec(f"{user_file}:make"), 10), dataset="shapes", name="r", robust=True,
                          runs_root=tmp_path)
    subset = selrob.evaluate(robust, "correct-subset", standard=standard, max_eval_samples=20)
    assert len(subset) == 20 and set(subset["model"]) == {"r"}
    with pytest.raises(SelrobError, match="compares a robust source with a standard partner; .* is standard and"):
        selrob.evaluate(standard, "correct-subset", standard=robust)
    with pytest.raises(SelrobError, match="kernel-tv evaluates one model: drop standard="):
        selrob.evaluate(robust, "kernel-tv", standard=standard)


def test_pairs_pair_their_models_by_the_pairs_name(user_file: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    add_model("s", "shapes", f"{user_file}:make", runs_root=runs)
    add_model("r", "shapes", "torchvision:resnet18", robust=True, runs_root=runs)
    code, _, err = run_cli(["pair", "add", "mine", "--standard", "r", "--robust", "s", "--runs-dir", str(runs)], capsys)
    assert code == 2 and err == ["selrob: error: --standard r was added with --robust: give a standard model (added "
                                 "without it)"] and files_under(runs / "pairs") == []
    add_pair("mine", "s", "r", runs)
    standard, robust = pair_sources("mine", runs)
    assert (standard.identity["arch"], robust.identity["arch"]) == ("mine", "mine")
    assert not standard.adversarially_trained and robust.adversarially_trained
    code, _, err = run_cli(["model", "remove", "s", "--runs-dir", str(runs)], capsys)
    assert code == 2 and "model 's' is in the pair(s) mine; `selrob pair remove` them first" in err[0]
    code, out, _ = run_cli(["pair", "list", "--runs-dir", str(runs)], capsys)
    assert out.splitlines()[1].split() == ["mine", "s", "r"]


@pytest.mark.slow
def test_every_applicable_evaluation_of_a_users_model_from_the_command_line(
        user_file: Path, tmp_path: Path, shapes_c: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's first must-show: a user's file, saved random weights, `selrob model add`, every
    evaluation that applies, then notebook 14 reports them all cached."""
    from selrob.pipeline.notebooks import execute_notebook
    from selrob.tables.model_report import CACHED, NOT_APPLICABLE, PAIRWISE

    runs = tmp_path / "runs"
    weights = save_weights(user_file, "make", tmp_path / "w.pt")
    assert run_cli(["model", "add", "cnn", "--dataset", "shapes", "--arch", f"{user_file}:make", "--weights",
                    str(weights), "--runs-dir", str(runs)], capsys)[0] == 0
    applicable = [name for name, e in registered_evaluations().items() if not e.pairwise and e.unavailable("shapes") is None]
    for name in applicable:
        code, out, err = run_cli(["evaluate", name, "--model", "cnn", "--max-eval-samples", "40", "--runs-dir", str(runs)],
                                 capsys)
        assert code == 0, (name, err)
        assert "rows of 1 models" in out.splitlines()[0] and "cnn" in out
    figures = tmp_path / "report"
    executed = execute_notebook(NOTEBOOKS / "14_model_report.ipynb",
                                tmp_path / "out", {"model": "cnn", "max_eval_samples": 40, "runs_dir": str(runs),
                                                   "figures_dir": str(figures)})
    text = executed.read_text()
    statuses = {status: text.count(f">{status}<") for status in (CACHED, NOT_APPLICABLE, PAIRWISE)}
    assert statuses[CACHED] == len(applicable) and statuses[NOT_APPLICABLE] == 3 and statuses[PAIRWISE] == 2, statuses
    assert "ImageNet-A shares classes with Tiny ImageNet only, not shapes" in text
    assert sorted(p.name for p in figures.iterdir()) == ["model_report_cnn.pdf", "model_report_cnn.png"]


@pytest.mark.slow
def test_a_torchvision_model_on_the_imagenet_stand_ins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A torchvision architecture with random weights (nothing can be downloaded here) on the
    stand-in cue-conflict stimuli and Broden files: cue-conflict, dissection and channel ablation run."""
    from selrob.data import cue_conflict_stimuli
    from tests.test_broden import write_broden
    from tests.test_cue_conflict_stimuli import write_stimuli

    data = tmp_path / "data"
    monkeypatch.setattr(cue_conflict_stimuli, "MANIFEST", write_stimuli(data))
    write_broden(data)
    source = add_model("r18", "imagenet", "torchvision:resnet18", layers=["relu", "layer4"],
                       mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), runs_root=tmp_path / "runs")
    settings = selrob.EvaluationSettings(data_root=str(data), device="cpu")
    decisions = selrob.evaluation_table("cue-conflict", [source], settings, progress=False)
    assert len(decisions) == 6 and set(decisions["model"]) == {"r18"}
    units = selrob.evaluation_table("dissection", [source], settings, progress=False)
    assert units.groupby("layer").size().to_dict() == {"layer4": 512, "relu": 64}
    scores = selrob.evaluation_table("channel-ablation", [source], settings, progress=False)
    assert len(scores) == 64 + 512 and scores["shape_score"].between(0, 1).all()


@pytest.mark.slow
def test_a_user_pair_through_the_pair_notebooks(user_file: Path, tmp_path: Path, shapes_c: Path) -> None:
    """Notebooks 09-13 analyse a researcher's pair (-p pairs) like the study's own pairs: every
    figure named by the pair, none of the study's claims (they are about its own pairs)."""
    from selrob.pipeline.notebooks import execute_notebook
    from selrob.studies import studies

    runs, figures = _user_pair(user_file, tmp_path), tmp_path / "figures"
    for notebook in studies()["shape_bias"].notebooks:
        before = set(figures.iterdir()) if figures.exists() else set()
        executed = execute_notebook(NOTEBOOKS / f"{notebook.stem}.ipynb", tmp_path / "out",
                                    {"pairs": ["mine"], "smoke": True, "runs_dir": str(runs), "figures_dir": str(figures)})
        outputs = "".join(json.dumps(cell.get("outputs", [])) for cell in json.loads(executed.read_text())["cells"])
        written = [p.name for p in set(figures.iterdir()) - before]
        assert "mine-r" in outputs and "skipped" not in outputs and " claims:" not in outputs, notebook.stem
        assert written and all("_pairs-mine" in name for name in written), written  # the world's gallery: not again


@pytest.mark.slow
def test_a_user_pair_through_notebook_15(user_file: Path, tmp_path: Path, shapes_c: Path) -> None:
    """Notebook 15's first part (the first paper's measures, S against R) on a researcher's pair:
    its three figures named by the pair; the second part, an alpha sweep, says why it is skipped."""
    from selrob.pipeline.notebooks import execute_notebook

    runs, figures = _user_pair(user_file, tmp_path), tmp_path / "figures"
    executed = execute_notebook(NOTEBOOKS / "15_bridge.ipynb", tmp_path / "out",
                                {"pairs": ["mine"], "smoke": True, "runs_dir": str(runs), "figures_dir": str(figures)})
    outputs = "".join(json.dumps(cell.get("outputs", [])) for cell in json.loads(executed.read_text())["cells"])
    assert "mine-r" in outputs and "Part 1 (robust vs standard) skipped" not in outputs
    assert "Part 2 (along alpha) skipped" in outputs and " claims:" not in outputs
    written = sorted(p.stem for p in figures.glob("*.png"))
    assert [name.split("_shapes_")[0] for name in written] == [
        f"fig_bridge_{name}" for name in ("dimensionality", "selectivity_per_layer", "unit_gradients")]
    assert all("_pairs-mine" in name for name in written), written


def _user_pair(user_file: Path, tmp_path: Path) -> Path:
    """The runs folder of a registered pair "mine" of two differently initialised user models."""
    runs = tmp_path / "runs"
    add_model("mine-s", "shapes", f"{user_file}:make", save_weights(user_file, "make", tmp_path / "s.pt", 1), runs_root=runs)
    add_model("mine-r", "shapes", f"{user_file}:make", save_weights(user_file, "make", tmp_path / "r.pt", 2), robust=True,
              runs_root=runs)
    add_pair("mine", "mine-s", "mine-r", runs)
    return runs


def test_the_report_notebook_is_committed_clean_with_typed_parameters() -> None:
    import papermill

    from selrob.pipeline.notebooks import MODEL_REPORT, notebook_paths

    notebook = NOTEBOOKS / f"{MODEL_REPORT}.ipynb"
    cells = json.loads(notebook.read_text())["cells"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in cells if c["cell_type"] == "code")
    assert sum("parameters" in c.get("metadata", {}).get("tags", []) for c in cells) == 1
    parameters = papermill.inspect_notebook(str(notebook))
    assert list(parameters) == ["model", "max_eval_samples", "runs_dir", "data_dir", "figures_dir", "device"]
    assert all(p["inferred_type_name"] != "None" and p["help"] for p in parameters.values())
    assert notebook not in notebook_paths()  # a tool, not a study's figures


def test_an_unknown_model_or_pair_names_what_is_registered(user_file: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SelrobError, match=r"no model called 'nope' is registered \(registered: none yet\); add it with"):
        get_model("nope", tmp_path)
    add_model("cnn", "shapes", f"{user_file}:make", runs_root=tmp_path)
    code, _, err = run_cli(["evaluate", "fgsm", "--model", "nope", "--runs-dir", str(tmp_path)], capsys)
    assert code == 2 and err == ["selrob: error: no model called 'nope' is registered (registered: cnn); add it with "
                                 "`selrob model add NAME --dataset D --arch SPEC`"]
    code, _, err = run_cli(["evaluate", "fgsm", "--pair", "mine", "--runs-dir", str(tmp_path)], capsys)
    assert code == 2 and "no pair called 'mine' is registered (registered: none yet)" in err[0]
    code, _, err = run_cli(["evaluate", "fgsm", "--model", "cnn", "--alpha", "1", "--runs-dir", str(tmp_path)], capsys)
    assert code == 2 and "--alpha choose a sweep's runs, and --model names the models instead" in err[0]
    code, _, err = run_cli(["evaluate", "activation-tv", "--model", "cnn", "--runs-dir", str(tmp_path)], capsys)
    assert code == 2 and "activation-tv compares a standard with a robust model" in err[0] and "--pair NAME" in err[0]
