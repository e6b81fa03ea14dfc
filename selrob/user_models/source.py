"""A researcher's own model as a model source (:class:`selrob.store.sources.ModelSource`): every
evaluation of both papers takes it like a trained run or a zoo model.

:func:`describe` checks a network once, before anything is written or evaluated: its output width
against the dataset's classes, its input channels against ``mean``/``std``, the layers the
measures will read (:mod:`selrob.user_models.layers`). Its evaluations are cached under
``<runs>/models/<name>/evaluations/<key>``, the first 12 hex digits of the weights' SHA-256
(:func:`selrob.user_models.weights.state_digest`) and a hash of the layers read and the
normalisation (:attr:`ModelRecord.key`): other weights or layers under the same name never reuse them.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from selrob import paths
from selrob.data import dataset_info, load_test_set
from selrob.data.base import ImageSet
from selrob.errors import SelrobError
from selrob.models.normalize import NormalizedModel
from selrob.models.placement import place_for_evaluation
from selrob.models.state import load_strictly
from selrob.user_models.layers import check_layers, stage_layers, trace_modules
from selrob.user_models.spec import call_factory
from selrob.user_models.weights import fit_state, read_state, state_digest

#: Where registered models, their weights and their evaluations live: ``<runs>/models/<name>/``.
MODELS_FOLDER = "models"
#: Where the results of :func:`model_source`'s models (given in Python, not registered) are cached.
PYTHON_FOLDER = "python-models"
#: Names of models and pairs: folder and file names, the same on every system.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: The prefix of the network's modules inside the :class:`NormalizedModel` that evaluations run.
BACKBONE = "backbone."


@dataclass(frozen=True)
class ModelRecord:
    """What describes a researcher's model: its ``name`` and ``dataset``; ``arch``, how to build it
    (a spec, or ``python:<class>`` for an object given in Python) and ``label``, its short name in
    tables; the ``layers`` the second paper's measures read and the ``unit_layers`` of the first
    paper's (``None``: every ReLU call, as :class:`~selrob.measures.units.UnitRecorder` counts
    them); the input normalisation (``mean``/``std`` of [0, 1] images); ``robust`` (an R model);
    ``digest``, the weights' SHA-256; ``code``, the SHA-256 of the user's file that builds it
    (``None`` for torchvision's, timm's and objects given in Python)."""

    name: str
    dataset: str
    arch: str
    label: str
    layers: tuple[str, ...]
    unit_layers: tuple[str, ...] | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    robust: bool
    digest: str
    code: str | None = None

    @property
    def key(self) -> str:
        """What its cached evaluations are keyed by: the weights' SHA-256 (12 hex digits), then 8 of
        a hash of what else decides its results (dataset, arch and its code, layers, normalisation)."""
        deciding = {name: value for name, value in self.to_json().items()
                    if name in ("dataset", "arch", "code", "layers", "unit_layers", "mean", "std")}
        return f"{self.digest[:12]}-{hashlib.sha256(json.dumps(deciding, sort_keys=True).encode()).hexdigest()[:8]}"

    def to_json(self) -> dict[str, Any]:
        """The record as JSON values (tuples as lists)."""
        return {**self.__dict__, "layers": list(self.layers),
                "unit_layers": None if self.unit_layers is None else list(self.unit_layers),
                "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelRecord:
        """The record :meth:`to_json` wrote (other keys of ``data`` are ignored)."""
        fields = {**data, "layers": tuple(data["layers"]), "mean": tuple(data["mean"]), "std": tuple(data["std"]),
                  "unit_layers": None if data["unit_layers"] is None else tuple(data["unit_layers"])}
        return cls(**{name: fields[name] for name in cls.__dataclass_fields__ if name in fields})


@dataclass(frozen=True)
class UserModel:
    """A researcher's model as a model source.

    ``network`` builds its architecture (random weights) and ``weights`` gives its state dict, as
    checked by :func:`describe`; ``folder`` is the runs folder's subfolder of its results
    (:data:`MODELS_FOLDER` for registered models, :data:`PYTHON_FOLDER` for :func:`model_source`'s).
    """

    record: ModelRecord
    network: Callable[[], nn.Module]
    weights: Callable[[], dict[str, torch.Tensor]]
    runs_root: Path | None = None
    folder: str = MODELS_FOLDER

    @property
    def identity(self) -> dict[str, Any]:
        """What tables key it by: dataset, arch, model, training and seed (0)."""
        return {"dataset": self.dataset, "arch": self.record.label, "model": self.record.name,
                "training": "robust" if self.record.robust else "standard", "seed": self.seed}

    @property
    def name(self) -> str:
        """``<dataset>/<folder>/<name>@<key>``: pairs cached with it name these weights."""
        return f"{self.dataset}/{self.folder}/{self.record.name}@{self.record.key}"

    @property
    def dataset(self) -> str:
        return self.record.dataset

    @property
    def seed(self) -> int:
        """0: a model from elsewhere has no training seed of ours; this seeds its evaluations' randomness."""
        return 0

    @property
    def adversarially_trained(self) -> bool:
        return self.record.robust

    @property
    def dissected_layers(self) -> tuple[str, ...]:
        return tuple(BACKBONE + name for name in self.record.layers)

    @property
    def unit_layers(self) -> tuple[str, ...] | None:
        layers = self.record.unit_layers
        return None if layers is None else tuple(BACKBONE + name for name in layers)

    @property
    def eval_samples(self) -> None:
        """``None``: the whole test set (:func:`~selrob.store.sources.first_test_images` limits it)."""
        return None

    @property
    def evaluations_dir(self) -> Path:
        return paths.runs_dir(self.runs_root) / self.folder / self.record.name / "evaluations" / self.record.key

    def load_model(self, device: torch.device | str = "cpu") -> nn.Module:
        """The network with its weights, behind its normalisation, on ``device`` in eval mode."""
        network = self.network()
        load_strictly(network, self.weights(), self.record.name, self.record.arch)
        return place_for_evaluation(NormalizedModel(network, self.record.mean, self.record.std), device)

    def test_set(self, data_root: str | Path | None = None) -> ImageSet:
        """The dataset's test set (ImageNet: its validation set)."""
        return load_test_set(self.dataset, data_root)


def check_name(name: str, what: str) -> str:
    """``name`` if it can name a ``what`` (a model or a pair): letters, digits, ``_``, ``.``, ``-``."""
    if not NAME.fullmatch(name):
        raise SelrobError(f"{what} name {name!r} is not allowed: use up to 64 letters, digits, '_', '.' and '-', "
                          "starting with a letter or digit")
    return name


def normalisation(dataset: str, mean: Sequence[float] | None, std: Sequence[float] | None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``mean``/``std`` checked against the dataset's channels; by default none (0 and 1): the
    model takes [0, 1] images as they are."""
    channels = dataset_info(dataset).in_channels
    if (mean is None) != (std is None):
        raise SelrobError("give --mean and --std together (one value per input channel each), or neither")
    mean, std = (tuple(mean), tuple(std)) if mean is not None and std is not None else ((0.0,) * channels, (1.0,) * channels)
    if len(mean) != channels or len(std) != channels:
        raise SelrobError(f"{dataset} images have {channels} channels: give {channels} values to --mean and to --std, "
                          f"got {len(mean)} and {len(std)}")
    if any(value <= 0 for value in std):
        raise SelrobError(f"--std values must be positive, got {list(std)}")
    return mean, std


def describe(name: str, dataset: str, network: nn.Module, arch: str, label: str, *,
             layers: Sequence[str] | None = None, default_layers: Sequence[str] | None = None,
             mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
             robust: bool = False, code: str | None = None) -> ModelRecord:
    """The record of ``network`` (weights loaded), after one forward pass on two random images of
    the dataset's size: its output must be (2, the dataset's classes); ``layers`` must be modules
    called once that leave feature maps (default: ``default_layers`` where they all do, else the
    stages', see :func:`~selrob.user_models.layers.stage_layers`)."""
    check_name(name, "model")
    info = dataset_info(dataset)
    mean, std = normalisation(dataset, mean, std)
    generator = torch.Generator().manual_seed(0)
    example = torch.rand(2, info.in_channels, info.image_size, info.image_size, generator=generator)
    normalised = (example - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)
    placed = next(itertools.chain(network.parameters(), network.buffers()), None)
    normalised = normalised.to(placed.device if placed is not None else "cpu")  # a model given on a GPU
    try:
        with torch.no_grad():
            output = network.eval()(normalised)
    except Exception as err:  # the user's forward pass may raise anything
        raise SelrobError(f"{name} ({arch}) fails on {dataset} images of shape {tuple(example.shape[1:])}: "
                          f"{type(err).__name__}: {err}") from None
    if not isinstance(output, torch.Tensor) or output.shape != (2, info.num_classes):
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise SelrobError(f"{name} ({arch}) outputs {shape} for 2 images; {dataset} has {info.num_classes} classes, "
                          f"so it must output (2, {info.num_classes}) logits")
    trace = trace_modules(network, normalised)
    if layers:
        chosen = check_layers(layers, trace, name)
    elif default_layers and all(layer in trace.maps for layer in default_layers):
        chosen = tuple(default_layers)
    else:  # e.g. the paper's ResNet-50 layers on 32-pixel images, whose layer4 is 1 x 1
        chosen = stage_layers(trace)
    units = chosen if layers or not trace.relu_modules else None
    return ModelRecord(name, dataset, arch, label, chosen, units, mean, std, robust, state_digest(network.state_dict()),
                       code)


def model_source(model_or_factory: nn.Module | Callable[[], nn.Module], *, dataset: str, name: str,
                 weights: str | Path | None = None, layers: Sequence[str] | None = None,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None, robust: bool = False,
                 runs_root: str | Path | None = None) -> UserModel:
    """Any classifier as a model source: an ``nn.Module`` (a torchvision or timm model, a
    RobustBench model object, your own class) or a function that builds one.

    ``weights``: a state dict file (read without running code, ``module.``/``model.`` prefixes
    stripped, loaded strictly); by default the module's own weights. ``layers``: module names
    (of the network itself) the measures read; by default its stages' post-ReLU maps. ``mean``/``std``:
    the normalisation the network expects of [0, 1] images, if any. ``robust``: an adversarially
    trained (R) model. A function is called with ``num_classes=`` if it takes that argument.
    Evaluate it with :func:`selrob.evaluate`; its results are cached under
    ``<runs>/python-models/<name>/``, and nothing is registered (``selrob model add`` does that for
    the command line and notebooks). Changes to its class's code are not seen: rename it or delete
    that folder after changing the code.
    """
    from selrob.data import check_dataset

    classes = dataset_info(check_dataset(dataset, for_training=False)).num_classes
    if isinstance(model_or_factory, nn.Module):
        def network() -> nn.Module:
            return copy.deepcopy(model_or_factory)
    elif callable(model_or_factory):
        def network() -> nn.Module:
            return call_factory(model_or_factory, classes)
    else:
        raise SelrobError(f"model_source takes an nn.Module or a function returning one, got {type(model_or_factory).__name__}")
    built = network()
    if not isinstance(built, nn.Module):
        raise SelrobError(f"the factory returned {type(built).__name__}, not a torch.nn.Module")
    arch = f"python:{type(built).__name__}"
    if weights is not None:
        fit_state(built, read_state(weights), str(weights), arch)
    record = describe(name, dataset, built, arch, type(built).__name__, layers=layers, mean=mean, std=std, robust=robust)
    state = {key: value.detach().clone() for key, value in built.state_dict().items()}  # lazy modules are set now
    return UserModel(record, network, lambda: state, None if runs_root is None else Path(runs_root), PYTHON_FOLDER)

