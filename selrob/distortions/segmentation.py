"""Silhouettes of photographs from a segmentation model: the real-data path of the second paper's
Table 3g on ImageNet (Sec. 3.2.2).

The paper segments the ImageNet-CL images of Geirhos et al.'s 16 categories with a PyTorch
DeepLab-v2 pre-trained on COCO-Stuff and fills the object black on white. Here torchvision's
``deeplabv3_resnet50`` with ``DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1`` is used instead:
a substitute for the paper's DeepLab-v2 on COCO-Stuff, not the same model. Its 21 classes are
background (0) and the 20 Pascal VOC categories, trained on the COCO images that show them. Of the
16 categories only 9 are VOC categories (aeroplane, bicycle, bird, boat, bottle, car, cat, chair,
dog); a bear, clock, elephant, keyboard, knife, oven or truck is foreground only where the model
takes it for some VOC category (a truck for a bus, an elephant for a cow), and otherwise the mask
is empty and the silhouette all white. The foreground is every pixel whose arg-max class is not
background (:func:`foreground_masks`), whatever VOC class it is.

The weights cannot be downloaded here: the user supplies torchvision's file (:data:`URL`), whose
name holds the first hex digits of its SHA-256, checked as torch.hub's ``check_hash`` does. It is
read as untrusted data (:func:`selrob.io.load_torch`: no code runs) and loaded strictly, aux
classifier included, as the published state dict has one.

Only ImageNet-CL images of the 16 categories are segmented in the paper; which images those are
needs the 1000-to-16 class lists of :mod:`selrob.measures.human_categories`, a higher layer than
this one: the caller passes them to :func:`sixteen_class_images`. The masks become silhouettes as
the embedded world's do (:func:`selrob.data.shape_texture.silhouettes`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.models.segmentation import DeepLabV3_ResNet50_Weights, deeplabv3_resnet50

from selrob.attacks.common import eval_mode
from selrob.data.cue_conflict_stimuli import CATEGORIES
from selrob.data.download import file_digest
from selrob.errors import SelrobError
from selrob.io import load_torch
from selrob.progress import progress_bar

WEIGHTS = DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1
#: torchvision's file of :data:`WEIGHTS` (160.5 MB), to be downloaded by the user.
URL = "https://download.pytorch.org/models/deeplabv3_resnet50_coco-cd0a2569.pth"
WEIGHTS_FILE = URL.rsplit("/", 1)[-1]
#: torch.hub's ``HASH_REGEX``: the published SHA-256 prefix follows the last ``-`` of the file name.
_HASH = re.search(r"-([a-f0-9]+)\.", WEIGHTS_FILE)
SHA256_PREFIX: str | None = _HASH.group(1) if _HASH else None
#: Background first, then the 20 Pascal VOC categories (the weights' ``meta["categories"]``).
CLASSES: tuple[str, ...] = tuple(WEIGHTS.meta["categories"])
BACKGROUND = 0
_TRANSFORMS = WEIGHTS.transforms()
#: ImageNet mean and std of the weights' own transforms, applied to [0, 1] images.
MEAN: tuple[float, ...] = tuple(_TRANSFORMS.mean)
STD: tuple[float, ...] = tuple(_TRANSFORMS.std)
#: The weights' evaluation size (shorter side, bilinear); the paper's DeepLab-v2 demo also upscales
#: ImageNet's 224-px crops (longer side to 513) before segmenting.
RESIZE: int = _TRANSFORMS.resize_size[0]


def how_to_get() -> str:
    """Where the weights come from, said wherever they are missing or wrong."""
    checksum = f" (SHA-256 starting with {SHA256_PREFIX})" if SHA256_PREFIX else ""
    return f"download {URL}{checksum} and give its path"


def _build() -> nn.Module:
    """torchvision's architecture for :data:`WEIGHTS` (aux classifier included, as published),
    built on the meta device: initialising 42 M parameters that the state dict replaces takes
    seconds, this takes none."""
    with torch.device("meta"):
        return deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=len(CLASSES), aux_loss=True)


def _state_dict_problem(state: Mapping[str, torch.Tensor], model: nn.Module) -> str | None:
    """What keeps ``state`` from loading strictly into ``model`` (names first, then shapes), or ``None``."""
    expected = model.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    if missing or unexpected:
        parts = [f"{len(what)} {label} keys such as {what[:3]}" for label, what in
                 (("missing", missing), ("unexpected", unexpected)) if what]
        return " and ".join(parts)
    mismatched = [f"{key} {tuple(state[key].shape)} (expected {tuple(value.shape)})"
                  for key, value in expected.items() if state[key].shape != value.shape]
    return f"{len(mismatched)} tensors of the wrong shape such as {mismatched[:2]}" if mismatched else None


def load_segmenter(path: Path, sha256_prefix: str | None = SHA256_PREFIX) -> nn.Module:
    """torchvision's ``deeplabv3_resnet50`` (21 classes, aux classifier) with the weights in
    ``path``, in eval mode on the CPU, gradients off.

    The file's SHA-256 must start with ``sha256_prefix`` (default: the one in :data:`URL`'s name;
    ``None`` skips the check, for other files of the same architecture). It is read without running
    code; a pickle that would load anything but tensors and plain data is refused. The aux
    classifier is loaded (strictly, as published) and then dropped: the segmentation is ``"out"``.
    """
    path = Path(path)
    if not path.is_file():
        raise SelrobError(f"segmentation weights {path} not found; {how_to_get()}")
    if sha256_prefix is not None and not (digest := file_digest(path, "sha256")).startswith(sha256_prefix):
        raise SelrobError(f"{path} is not torchvision's {WEIGHTS_FILE}: its SHA-256 is {digest}, "
                          f"expected one starting with {sha256_prefix}; {how_to_get()}")
    state = load_torch(path, foreign=how_to_get())
    if not isinstance(state, Mapping) or not state or not all(
            isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()):
        raise SelrobError(f"{path} is not a state dict (parameter names mapped to tensors) of deeplabv3_resnet50; "
                          f"{how_to_get()}")
    model = _build()
    if (problem := _state_dict_problem(state, model)) is not None:
        raise SelrobError(f"{path} does not fit deeplabv3_resnet50 with 21 classes and an aux classifier: {problem}; "
                          f"{how_to_get()}")
    model.load_state_dict(state, strict=True, assign=True)
    model.aux_classifier = None  # forward then skips the training-only head on layer 3
    model.requires_grad_(False)
    return model.eval()


def _normalised(images: torch.Tensor, resize: int | None) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> float, shorter side ``resize`` (bilinear, antialiased as the weights'
    transforms), ImageNet-normalised."""
    x = images.float().div_(255.0)
    if resize is not None:
        height, width = x.shape[-2:]
        scale = resize / min(height, width)
        size = (round(height * scale), round(width * scale))
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(MEAN, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(STD, device=x.device).view(1, -1, 1, 1)
    return (x - mean) / std


@torch.inference_mode()
def foreground_masks(model: nn.Module, images: torch.Tensor, batch_size: int = 32,
                     device: torch.device | str | None = None, resize: int | None = RESIZE,
                     progress: bool = False) -> torch.Tensor:
    """bool (N, H, W) on the CPU: where the arg-max class of ``model``'s ``"out"`` logits is not
    background, for uint8 (N, 3, H, W) ``images``.

    ``model`` is anything that maps an ImageNet-normalised float batch to ``{"out": (B, C, h, w)
    logits}`` as torchvision's segmentation models do (eval mode while it runs). Images are resized
    to a shorter side of ``resize`` first (default: the weights' 520; ``None`` keeps their size),
    and the logits are resized back to (H, W) bilinearly before the arg-max. Each batch of
    ``batch_size`` moves to ``device`` (where ``model`` must be; ``images`` stay where they are);
    the batch size changes nothing but memory.
    """
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
        raise SelrobError(f"expected uint8 RGB images of shape (N, 3, H, W), got {images.dtype} {tuple(images.shape)}")
    if batch_size < 1:
        raise SelrobError(f"batch size must be at least 1, got {batch_size}")
    if resize is not None and resize < 1:
        raise SelrobError(f"resize must be a positive side length or None, got {resize}")
    size = images.shape[-2:]
    masks = []
    starts = range(0, len(images), batch_size)
    with eval_mode(model):
        for start in progress_bar(starts, desc="segmenting", unit="batch", disable=not progress, leave=False):
            batch = _normalised(images[start:start + batch_size].to(device), resize)
            output = model(batch)
            logits = output["out"] if isinstance(output, Mapping) else None
            if not isinstance(logits, torch.Tensor) or logits.dim() != 4 or logits.shape[1] < 2:
                raise SelrobError("the segmentation model must return {'out': (B, classes, h, w) logits} "
                                  "with background as class 0")
            if logits.shape[-2:] != size:
                logits = F.interpolate(logits.float(), size=size, mode="bilinear", align_corners=False)
            masks.append((logits.argmax(dim=1) != BACKGROUND).cpu())
    return torch.cat(masks) if masks else torch.zeros((0, *size), dtype=torch.bool)


def sixteen_class_images(labels: torch.Tensor | Sequence[int],
                         imagenet_indices: Mapping[str, Sequence[int]]) -> torch.Tensor:
    """int64 (N,): the 16-class category (index into :data:`~selrob.data.cue_conflict_stimuli.CATEGORIES`)
    of each ImageNet label (0..999, sorted-wnid order), -1 where the label is in none of them;
    ``>= 0`` selects the images the paper segments.

    ``imagenet_indices`` are the ImageNet classes of each category: pass
    :data:`selrob.measures.human_categories.IMAGENET_INDICES` (not imported here: ``measures`` is a
    higher layer than ``distortions``). The restriction to ImageNet-CL is the caller's as well.
    """
    if set(imagenet_indices) != set(CATEGORIES):
        raise SelrobError(f"imagenet_indices must be keyed by the 16 categories {', '.join(CATEGORIES)}; "
                          f"got {', '.join(sorted(imagenet_indices))}")
    table = torch.full((1000,), -1, dtype=torch.int64)
    for category, indices in imagenet_indices.items():
        for index in indices:
            if not 0 <= index < 1000 or table[index] >= 0:
                raise SelrobError(f"ImageNet class {index} of {category} is outside 0..999 or in two categories")
            table[index] = CATEGORIES.index(category)
    labels = torch.as_tensor(labels, dtype=torch.int64)
    if labels.dim() != 1 or (len(labels) and (labels.min() < 0 or labels.max() >= 1000)):
        raise SelrobError(f"expected a 1-D list of ImageNet labels in 0..999, got shape {tuple(labels.shape)}")
    return table[labels]
