"""Silhouettes from a segmentation model (Table 3g on ImageNet): masks from a fake segmenter with
a known foreground, black-on-white silhouettes, batching and normalisation, the 16-class selection,
and loading torchvision's deeplabv3_resnet50 weights as untrusted data (a real state dict of the
architecture, random weights, written by the test)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision.models.segmentation import deeplabv3_resnet50

from selrob.data.cue_conflict_stimuli import CATEGORIES
from selrob.data.shape_texture import silhouettes
from selrob.distortions import segmentation
from selrob.errors import SelrobError
from selrob.measures.human_categories import IMAGENET_INDICES


class SquareSegmenter(nn.Module):
    """Foreground (class 3) where the input's red channel is above its mean, background elsewhere;
    records the batches it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.inputs.append(x.clone())
        foreground = (x[:, 0] > x[:, 0].mean()).float()
        logits = torch.zeros(len(x), 21, *x.shape[-2:])
        logits[:, 0] = 1 - foreground
        logits[:, 3] = foreground
        return {"out": logits, "aux": logits}


def square_images(n: int = 5, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` grey images with a red square at a different place in each, and the squares' masks."""
    images = torch.full((n, 3, size, size), 100, dtype=torch.uint8)
    masks = torch.zeros(n, size, size, dtype=torch.bool)
    for i in range(n):
        masks[i, 4 + i:12 + 2 * i, 8:20 + i] = True
    images[:, 0][masks] = 250
    return images, masks


def test_masks_are_the_known_foreground_and_silhouettes_fill_it_black_on_white() -> None:
    images, expected = square_images()
    masks = segmentation.foreground_masks(SquareSegmenter(), images, batch_size=8, resize=None)
    assert masks.dtype == torch.bool and torch.equal(masks, expected)
    shapes = torch.from_numpy(silhouettes(masks.numpy()))  # the silhouettes of the embedded world's masks too
    assert shapes.dtype == torch.uint8 and shapes.shape == images.shape
    assert (shapes.permute(0, 2, 3, 1)[masks] == 0).all() and (shapes.permute(0, 2, 3, 1)[~masks] == 255).all()


def test_batching_changes_nothing_and_resized_logits_come_back_to_the_image_size() -> None:
    images, expected = square_images(7)
    one = segmentation.foreground_masks(SquareSegmenter(), images, batch_size=7, resize=None)
    fake = SquareSegmenter()
    assert torch.equal(segmentation.foreground_masks(fake, images, batch_size=3, resize=None), one)
    assert [len(x) for x in fake.inputs] == [3, 3, 1]
    fake = SquareSegmenter()
    resized = segmentation.foreground_masks(fake, images, batch_size=4, resize=64)
    assert fake.inputs[0].shape[-2:] == (64, 64) and resized.shape == expected.shape
    assert (resized != expected).float().mean() < 0.02  # only the squares' edges may move
    assert segmentation.RESIZE == 520  # the weights' own evaluation size is the default


def test_images_are_imagenet_normalised_inside() -> None:
    images = torch.stack([torch.full((3, 8, 8), 0, dtype=torch.uint8), torch.full((3, 8, 8), 255, dtype=torch.uint8)])
    fake = SquareSegmenter()
    segmentation.foreground_masks(fake, images, resize=None)
    seen = fake.inputs[0]
    mean, std = torch.tensor(segmentation.MEAN), torch.tensor(segmentation.STD)
    assert torch.allclose(seen[0, :, 0, 0], -mean / std) and torch.allclose(seen[1, :, 0, 0], (1 - mean) / std)
    assert segmentation.MEAN == (0.485, 0.456, 0.406) and segmentation.STD == (0.229, 0.224, 0.225)
    with pytest.raises(SelrobError, match=r"expected uint8 RGB images of shape \(N, 3, H, W\)"):
        segmentation.foreground_masks(fake, images.float())


def test_the_model_must_return_torchvision_s_output() -> None:
    class Plain(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    with pytest.raises(SelrobError, match=r"must return \{'out'"):
        segmentation.foreground_masks(Plain(), square_images(1)[0], resize=None)


def test_the_sixteen_class_images_are_those_of_the_category_lists() -> None:
    labels = torch.tensor([404, 0, 152, 192, 999, 766])  # airplane, tench, dog, (not a dog), toilet tissue, oven
    categories = segmentation.sixteen_class_images(labels, IMAGENET_INDICES)
    names = [CATEGORIES[c] if c >= 0 else None for c in categories.tolist()]
    assert names == ["airplane", None, "dog", None, None, "oven"]
    assert (segmentation.sixteen_class_images(torch.arange(1000), IMAGENET_INDICES) >= 0).sum() == 207
    with pytest.raises(SelrobError, match="keyed by the 16 categories"):
        segmentation.sixteen_class_images(labels, {"dog": (152,)})
    with pytest.raises(SelrobError, match="in two categories"):
        segmentation.sixteen_class_images(labels, {**IMAGENET_INDICES, "cat": (404,)})
    with pytest.raises(SelrobError, match="ImageNet labels in 0..999"):
        segmentation.sixteen_class_images(torch.tensor([1000]), IMAGENET_INDICES)


def test_the_weights_are_torchvision_s_named_file() -> None:
    from torchvision.models.segmentation import DeepLabV3_ResNet50_Weights

    weights = DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1
    assert segmentation.URL == weights.url and segmentation.SHA256_PREFIX == "cd0a2569"
    assert segmentation.CLASSES[0] == "__background__" and len(segmentation.CLASSES) == 21


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state dict of torchvision's architecture with the aux classifier (random weights, 168 MB)."""
    torch.manual_seed(0)
    model = deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
    path = tmp_path_factory.mktemp("segmenter") / segmentation.WEIGHTS_FILE
    torch.save(model.state_dict(), path)
    return path


def test_a_state_dict_of_the_architecture_loads_strictly_into_an_eval_model(weights_file: Path) -> None:
    model = segmentation.load_segmenter(weights_file, sha256_prefix=None)
    assert not model.training and model.aux_classifier is None
    state = torch.load(weights_file, weights_only=True)
    loaded = dict(model.named_parameters()) | dict(model.named_buffers())
    assert all(torch.equal(loaded[key], value) for key, value in state.items() if not key.startswith("aux_classifier."))
    assert not any(t.is_meta or t.requires_grad for t in loaded.values())
    masks = segmentation.foreground_masks(model, torch.zeros(1, 3, 16, 16, dtype=torch.uint8), resize=None)
    assert masks.shape == (1, 16, 16)


def test_the_published_sha256_prefix_is_checked(weights_file: Path) -> None:
    with pytest.raises(SelrobError, match=r"is not torchvision's deeplabv3_resnet50_coco-cd0a2569\.pth: its SHA-256 is "
                                          r"[0-9a-f]{64}, expected one starting with cd0a2569; download https://"):
        segmentation.load_segmenter(weights_file)


@pytest.mark.parametrize(("content", "message"), [
    ({"backbone.conv1.weight": torch.zeros(64, 3, 7, 7)}, r"does not fit deeplabv3_resnet50 .*: 369 missing keys such as"),
    ({"backbone.conv1.weight": torch.zeros(1), "extra": torch.zeros(1)},
     r"369 missing keys .* and 1 unexpected keys such as \['extra'\]"),
    ([torch.zeros(1)], "is not a state dict"),
    ({}, "is not a state dict"),
])
def test_a_file_of_another_layout_is_refused_in_one_line(tmp_path: Path, content: object, message: str) -> None:
    torch.save(content, tmp_path / "other.pth")
    with pytest.raises(SelrobError, match=message) as error:
        segmentation.load_segmenter(tmp_path / "other.pth", sha256_prefix=None)
    assert "\n" not in str(error.value)


def test_wrong_shapes_missing_and_corrupt_files_are_refused(tmp_path: Path) -> None:
    state = {key: value for key, value in segmentation._build().state_dict().items()}
    state = {key: torch.zeros(value.shape) for key, value in state.items()}
    state["classifier.4.weight"] = torch.zeros(10, 256, 1, 1)  # 10 classes instead of 21
    torch.save(state, tmp_path / "ten.pth")
    with pytest.raises(SelrobError, match=r"1 tensors of the wrong shape such as \['classifier.4.weight \(10, 256, 1, 1\) "
                                          r"\(expected \(21, 256, 1, 1\)\)'\]"):
        segmentation.load_segmenter(tmp_path / "ten.pth", sha256_prefix=None)
    with pytest.raises(SelrobError, match=r"segmentation weights .*absent.pth not found; download https://download"):
        segmentation.load_segmenter(tmp_path / "absent.pth")
    (tmp_path / "cut.pth").write_bytes((tmp_path / "ten.pth").read_bytes()[:1000])
    with pytest.raises(SelrobError, match=r"cut.pth is not a complete PyTorch checkpoint: it is cut short \(its zip end record is missing\); download https://download"):
        segmentation.load_segmenter(tmp_path / "cut.pth", sha256_prefix=None)


def test_a_pickle_that_would_run_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "marker"

    class RunsCode:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return os.system, (f"touch {marker}",)

    torch.save({"backbone.conv1.weight": RunsCode()}, tmp_path / "evil.pth")
    with pytest.raises(SelrobError, match=r"refusing .*evil.pth: it would load (posix|os)\.system when read"):
        segmentation.load_segmenter(tmp_path / "evil.pth", sha256_prefix=None)
    assert not marker.exists()
