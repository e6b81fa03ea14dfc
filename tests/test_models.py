"""Models: architecture facts from the paper and its reference implementations, and the units."""

from __future__ import annotations

import pytest
import torch
from torchvision import models as tv_models

from selrob.measures.units import UnitRecorder
from selrob.errors import SelrobError
from selrob.models import build_model


def make(arch: str, classes: int = 10, channels: int = 3) -> torch.nn.Module:
    return build_model(arch, num_classes=classes, in_channels=channels, mean=[0.5] * channels, std=[0.25] * channels)


def test_resnet20_has_the_reference_parameter_count() -> None:
    model = make("resnet20")
    assert sum(p.numel() for p in model.parameters()) == 269_722


@pytest.mark.parametrize(("arch", "size", "layers"), [("resnet20", 32, 19), ("resnet18", 64, 17), ("resnet50", 64, 49)])
def test_every_post_relu_layer_is_recorded_once(arch: str, size: int, layers: int) -> None:
    model = make(arch, classes=7).eval()
    with UnitRecorder(model) as units, torch.no_grad():
        logits = model(torch.rand(2, 3, size, size))
        recorded = [u.shape for u in units.activations]
        names = list(units.layer_names)
    assert logits.shape == (2, 7)
    assert len(recorded) == layers
    assert len(set(names)) == layers
    assert all(shape[0] == 2 for shape in recorded)


def test_resnet18_units_follow_reused_relu_calls() -> None:
    model = make("resnet18", classes=5).eval()
    with UnitRecorder(model) as units, torch.no_grad():
        model(torch.rand(1, 3, 64, 64))
    assert units.layer_names[:3] == ["backbone.relu:0", "backbone.layer1.0.relu:0", "backbone.layer1.0.relu:1"]
    widths = [u.shape[1] for u in units.activations]
    assert widths == [64] + [64] * 4 + [128] * 4 + [256] * 4 + [512] * 4


def test_units_are_spatial_means_of_the_post_relu_maps() -> None:
    model = make("resnet20").eval()
    captured = {}
    model.backbone.relu.register_forward_hook(lambda m, i, o: captured.setdefault("stem", o.clone()))
    with UnitRecorder(model) as units, torch.no_grad():
        model(torch.rand(3, 3, 32, 32))
    torch.testing.assert_close(units.activations[0], captured["stem"].mean(dim=(2, 3)))
    assert (units.activations[0] >= 0).all()


def test_recorder_resets_each_forward_and_detaches_on_exit() -> None:
    model = make("resnet20").eval()
    with UnitRecorder(model) as units, torch.no_grad():
        model(torch.rand(2, 3, 32, 32))
        model(torch.rand(4, 3, 32, 32))
        assert len(units.activations) == 19 and units.activations[0].shape[0] == 4
    assert not model.backbone.relu._forward_hooks


def test_imagenet_models_drop_the_stem_maxpool_and_keep_torchvision_blocks() -> None:
    ours = make("resnet18", classes=200).backbone
    reference = tv_models.resnet18(weights=None, num_classes=200)
    assert isinstance(ours.maxpool, torch.nn.Identity)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in reference.parameters())
    features = ours.layer4(ours.layer3(ours.layer2(ours.layer1(ours.relu(ours.bn1(ours.conv1(torch.rand(1, 3, 64, 64))))))))
    assert features.shape[-2:] == (4, 4)  # 64 -> 32 (stem conv) -> 32, 16, 8, 4 without the max-pool


def test_normalisation_is_inside_the_model() -> None:
    model = build_model("resnet20", num_classes=10, in_channels=1, mean=[0.3], std=[0.4]).eval()
    x = torch.rand(2, 1, 8, 8)
    torch.testing.assert_close(model(x), model.backbone((x - 0.3) / 0.4))


def test_input_channels_and_classes_are_configurable() -> None:
    model = make("resnet20", classes=4, channels=1)
    assert model(torch.rand(2, 1, 8, 8)).shape == (2, 4)
    assert make("resnet50", classes=3, channels=1)(torch.rand(2, 1, 64, 64)).shape == (2, 3)


def test_unknown_arch_is_a_clear_error() -> None:
    with pytest.raises(SelrobError, match="unknown arch 'vgg'; choose one of: resnet20, resnet18, resnet50"):
        make("vgg")


@pytest.mark.parametrize("size", [32, 64])
def test_alexnet_small_has_five_dissected_conv_layers_and_a_7x7_first_kernel(size: int) -> None:
    from selrob.models.alexnet_small import DISSECTED_LAYERS, WIDTHS
    from selrob.measures.units import UnitRecorder

    model = build_model("alexnet_small", num_classes=10, in_channels=3, mean=(0.5,) * 3, std=(0.25,) * 3).eval()
    assert model.backbone.features.conv1.kernel_size == (7, 7)
    images = torch.rand(2, 3, size, size)
    with torch.no_grad(), UnitRecorder(model) as units:
        logits = model(images)
    assert logits.shape == (2, 10)
    # Units: the five post-ReLU conv maps (in order, with their widths), then the fc6 ReLU.
    assert [name.split(":")[0] for name in units.layer_names] == [f"backbone.{n}" for n in DISSECTED_LAYERS] + [
        "backbone.classifier.relu6"]
    assert [a.shape[1] for a in units.activations] == [*WIDTHS, 256]


@pytest.mark.parametrize(("arch", "channels", "size"), [("resnet20", 1, 8), ("resnet20", 3, 32), ("alexnet_small", 3, 32)])
def test_a_model_placed_for_evaluation_runs_channels_last_with_the_same_outputs(arch: str, channels: int,
                                                                                size: int) -> None:
    import copy

    from selrob.models.placement import place_for_evaluation

    torch.manual_seed(0)
    model = make(arch, channels=channels).eval()
    placed = place_for_evaluation(copy.deepcopy(model), "cpu")
    last_conv = [name for name, module in placed.named_modules() if isinstance(module, torch.nn.Conv2d)][-1]
    layouts = []
    dict(placed.named_modules())[last_conv].register_forward_hook(
        lambda module, args, output: layouts.append(output.is_contiguous(memory_format=torch.channels_last)))
    images = torch.rand(6, channels, size, size)  # contiguous, as the evaluations' batches
    gradients = []
    for network in (model, placed):
        inputs = images.clone().requires_grad_(True)
        logits = network(inputs)
        gradients.append(torch.autograd.grad(logits[:, 0].sum(), inputs)[0])
        if network is model:
            reference = logits.detach()
    assert layouts == [True] and not placed.training
    torch.testing.assert_close(logits.detach(), reference, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(gradients[1], gradients[0], rtol=1e-4, atol=1e-6)
