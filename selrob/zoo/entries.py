"""The model zoo as a data table: the second paper's standard (S) and robust (R) ImageNet models.

The paper (Chen, Agarwal & Nguyen 2020, section 2 and Table 1) compares AlexNet, GoogLeNet and
ResNet-50 from the PyTorch model zoo with adversarially trained copies (L2 PGD, epsilon 3). Each
entry says where a checkpoint comes from, how to check it, how its keys map onto torchvision's
architecture and how its inputs are preprocessed; special cases live here, not in the loader.

* S models: torchvision's ``IMAGENET1K_V1`` weights (``*_Weights.DEFAULT`` is V2 for ResNet-50:
  another model). Their file names carry the first 8 hex digits of the file's SHA-256, which
  torch.hub checks as a prefix (``check_hash=True``).
* ResNet-R: two published models are both called "ResNet-50 L2 eps 3": the robustness library's
  (MadryLab; clean 57.90%, the value in the paper's Table 1) and Salman et al. 2020's (62.83%).
  Neither has a published checksum.
* AlexNet-R and GoogLeNet-R are only in the paper authors' Google Drive folder (README of
  ``anguyen8/shape-bias``), which a tool cannot fetch: they are import-only. The authors trained
  them with the robustness library, so their files are robustness-library checkpoints of the
  authors' own model classes (read by ``loadrobust`` in their ``loader/model_loader.py``); only
  module names differ from torchvision's, which the key mapping renames.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TypeVar
from urllib.parse import urlparse

from selrob.data import imagenet
from selrob.errors import SelrobError

#: What the zoo's models classify: ImageNet's 1,000 classes (the datasets of selrob.data name it).
ZOO_DATASET = imagenet.INFO.name

T = TypeVar("T")

ARCHITECTURES = ("alexnet", "googlenet", "resnet50")
TRAININGS = ("standard", "robust")
#: ``torchvision``: a plain state dict in torchvision's keys. ``robustness``: a robustness-library
#: checkpoint, a dict whose ``model`` is the ``AttackerModel`` state dict (``module.model.*`` the
#: classifier; ``module.normalizer.*``, ``module.attacker.*`` its normaliser and a duplicate).
FORMATS = ("torchvision", "robustness")


@dataclass(frozen=True)
class Preprocessing:
    """How test images are made: Resize(``resize``, bilinear) of the shorter side, CenterCrop(``crop``),
    then ``(x - mean) / std`` inside the model on [0, 1] images."""

    resize: int
    crop: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


#: torchvision's V1 eval transform; the robustness library's ImageNet test transform is the same.
IMAGENET_EVAL = Preprocessing(imagenet.RESIZE, imagenet.CROP, imagenet.INFO.mean, imagenet.INFO.std)


@dataclass(frozen=True)
class KeyMapping:
    """From a checkpoint's keys (after the robustness library's ``module.model.`` prefix is
    stripped) to torchvision's: keys that a regex of ``drops`` matches from their start are left
    out, then ``renames``, ``(regex, replacement)`` pairs, are applied in order with ``re.sub``."""

    renames: tuple[tuple[str, str], ...] = ()
    drops: tuple[str, ...] = ()


#: GoogLeNet's auxiliary classifiers, used only in training: torchvision drops them when it loads
#: its pretrained weights, and so do we.
WITHOUT_AUX_HEADS = KeyMapping(drops=(r"aux[12]\.",))


@dataclass(frozen=True)
class ZooEntry:
    """One model of the zoo.

    Attributes:
        name: unique name (``selrob zoo list``).
        arch: torchvision architecture, one of :data:`ARCHITECTURES`.
        training: ``standard`` or ``robust``.
        url: where to download the checkpoint; ``None``: import-only (``selrob zoo import``).
        where: where the checkpoint is published, in words (for import-only entries, where to get it).
        sha256_prefix: the published SHA-256 (a prefix, checked as torch.hub does); ``None``: none
            published, the file's own digest is recorded when it is converted.
        checkpoint_format: one of :data:`FORMATS`.
        key_mapping: renames and drops onto torchvision's keys.
        clean_accuracy: published top-1 on the 50k validation images (%).
        citation: where the model and its accuracy come from.
        transform_input: GoogLeNet only: whether the network re-maps ImageNet-normalised input to
            the ``(x - 0.5) / 0.5`` convention its weights were trained in (see
            :func:`selrob.zoo.networks.build_network`).
        preprocessing: how its test images are made and normalised.
    """

    name: str
    arch: str
    training: str
    url: str | None
    where: str
    sha256_prefix: str | None
    checkpoint_format: str
    clean_accuracy: float
    citation: str
    key_mapping: KeyMapping = KeyMapping()
    transform_input: bool = False
    preprocessing: Preprocessing = IMAGENET_EVAL

    def __post_init__(self) -> None:
        for value, choices in ((self.arch, ARCHITECTURES), (self.training, TRAININGS), (self.checkpoint_format, FORMATS)):
            if value not in choices:
                raise ValueError(f"{self.name}: {value!r} is not one of {', '.join(choices)}")
        if self.transform_input and self.arch != "googlenet":
            raise ValueError(f"{self.name}: transform_input applies to GoogLeNet only")

    @property
    def file_name(self) -> str | None:
        """The checkpoint's file name in its URL (``None`` for import-only entries)."""
        return None if self.url is None else PurePosixPath(urlparse(self.url).path).name


@dataclass(frozen=True)
class ModelPair:
    """A standard model and its robust counterpart of the same architecture."""

    name: str
    standard: str
    robust: str
    paper: bool  # False: an alternative to the paper's pair


_AUTHORS_WHERE = "the paper authors' Google Drive folder, linked in the README of anguyen8/shape-bias (needs a browser)"


def _torchvision(arch: str, file_name: str, accuracy: float, title: str, key_mapping: KeyMapping = KeyMapping(),
                 transform_input: bool = False) -> ZooEntry:
    """A torchvision IMAGENET1K_V1 entry: the file name holds its SHA-256 prefix."""
    return ZooEntry(
        name=arch, arch=arch, training="standard", url=f"https://download.pytorch.org/models/{file_name}",
        where="the PyTorch model zoo (torchvision)", sha256_prefix=file_name.rsplit("-", 1)[1].split(".")[0],
        checkpoint_format="torchvision", clean_accuracy=accuracy,
        citation=f"torchvision {title} IMAGENET1K_V1, the paper's S model (Chen, Agarwal & Nguyen 2020, Table 1: "
                 f"{accuracy:.2f}%)", key_mapping=key_mapping, transform_input=transform_input)


def _authors(arch: str, accuracy: float, title: str, key_mapping: KeyMapping) -> ZooEntry:
    """An import-only R model of the paper's authors."""
    return ZooEntry(
        name=f"{arch}-r", arch=arch, training="robust", url=None, where=_AUTHORS_WHERE, sha256_prefix=None,
        checkpoint_format="robustness", key_mapping=key_mapping, clean_accuracy=accuracy,
        citation=f"the paper's {title} (Chen, Agarwal & Nguyen 2020, Table 1: {accuracy:.2f}%), trained by the "
                 f"authors with the robustness library (L2 PGD eps 3, step 0.5, 7 steps)")


ENTRIES: dict[str, ZooEntry] = {entry.name: entry for entry in (
    _torchvision("alexnet", "alexnet-owt-7be5be79.pth", 56.522, "AlexNet"),
    # torchvision builds its pretrained GoogLeNet with transform_input=True; its file keeps the aux heads.
    _torchvision("googlenet", "googlenet-1378be20.pth", 69.778, "GoogLeNet", key_mapping=WITHOUT_AUX_HEADS,
                 transform_input=True),
    _torchvision("resnet50", "resnet50-0676ba61.pth", 76.130, "ResNet-50"),
    ZooEntry(
        name="resnet50-l2-eps3-madry", arch="resnet50", training="robust",
        # Dropbox serves the file itself with dl=1 (the README's dl=0 link is a web page).
        url="https://www.dropbox.com/s/knf4uimlqsi1yz8/imagenet_l2_3_0.pt?dl=1",
        where="the robustness library's README (MadryLab/robustness)", sha256_prefix=None,
        checkpoint_format="robustness", clean_accuracy=57.90,
        citation="Engstrom et al. 2019, robustness library (MadryLab), ImageNet L2 eps 3.0 ResNet-50; the paper's "
                 "ResNet-R (Chen, Agarwal & Nguyen 2020, Table 1: 57.90%)"),
    ZooEntry(
        name="resnet50-l2-eps3-salman", arch="resnet50", training="robust",
        url="https://huggingface.co/madrylab/robust-imagenet-models/resolve/main/resnet50_l2_eps3.ckpt",
        where="Hugging Face madrylab/robust-imagenet-models (formerly MadryLab/robust-models-transfer)",
        sha256_prefix=None, checkpoint_format="robustness", clean_accuracy=62.83,
        citation="Salman et al. 2020, 'Do adversarially robust ImageNet models transfer better?', ResNet-50 "
                 "L2 eps 3: not the paper's ResNet-R"),
    # The authors' AlexNet ends in last_relu and last_layer (Linear 4096 -> 1000) after a
    # five-module classifier: last_layer is torchvision's classifier.6.
    _authors("alexnet", 39.83, "AlexNet-R", KeyMapping(renames=((r"^last_layer\.", "classifier.6."),))),
    # The authors' GoogLeNet names the pooling branch's convolution branch4_conv (torchvision:
    # branch4.1) and was trained with aux heads. The robustness library normalised its input with
    # ImageNet mean and std and the authors' class defaults to transform_input=False: the network
    # saw ImageNet-normalised input as is, so transform_input stays False.
    _authors("googlenet", 43.57, "GoogLeNet-R",
             KeyMapping(renames=((r"\.branch4_conv\.", ".branch4.1."),), drops=WITHOUT_AUX_HEADS.drops)),
)}

#: The paper's S/R pairs per architecture, and Salman et al.'s ResNet-50 as an alternative R model.
PAIRS: dict[str, ModelPair] = {pair.name: pair for pair in (
    ModelPair("alexnet", "alexnet", "alexnet-r", paper=True),
    ModelPair("googlenet", "googlenet", "googlenet-r", paper=True),
    ModelPair("resnet50", "resnet50", "resnet50-l2-eps3-madry", paper=True),
    ModelPair("resnet50-salman", "resnet50", "resnet50-l2-eps3-salman", paper=False),
)}


def _lookup(table: Mapping[str, T], kind: str, name: str) -> T:
    if name not in table:
        raise SelrobError(f"unknown zoo {kind} {name!r}; choose one of: {', '.join(table)}")
    return table[name]


def get_entry(name: str) -> ZooEntry:
    """The entry called ``name``, else a one-line error listing the choices."""
    return _lookup(ENTRIES, "model", name)


def get_pair(name: str) -> ModelPair:
    """The pair called ``name``, else a one-line error listing the choices."""
    return _lookup(PAIRS, "pair", name)
