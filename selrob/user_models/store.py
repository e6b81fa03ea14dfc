"""The models and standard / robust pairs researchers register for the command line and the
notebooks (``selrob model add``, ``selrob pair add``).

Layout under the runs folder (owned here alone):

* ``models/<name>/weights.pt``: the weights as fitted to the architecture (its own keys);
* ``models/<name>/model.json``: the model's :class:`~selrob.user_models.source.ModelRecord` and
  where its weights came from, written last: its presence marks a registered model;
* ``models/<name>/evaluations/<digest>/``: its cached evaluations (:class:`~selrob.user_models.source.UserModel`);
* ``pairs/<name>.json``: a pair's standard and robust model.

Everything is checked before anything is written: a refused ``model add`` leaves no file behind.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from selrob import paths
from selrob.data import check_dataset, dataset_info
from selrob.errors import SelrobError
from selrob.io import read_json, save_torch, write_json
from selrob.store.sources import Relabelled
from selrob.user_models.source import MODELS_FOLDER, ModelRecord, UserModel, check_name, describe
from selrob.user_models.spec import ArchSpec, build_network, parse_spec
from selrob.user_models.weights import fit_state, read_state, state_digest
from selrob.zoo.checkpoints import read_untrusted
from selrob.zoo.networks import DISSECTED_LAYERS

WEIGHTS = "weights.pt"
RECORD = "model.json"
PAIRS_FOLDER = "pairs"


def model_dir(name: str, runs_root: str | Path | None = None) -> Path:
    """``<runs>/models/<name>``."""
    return paths.runs_dir(runs_root) / MODELS_FOLDER / name


def _pair_path(name: str, runs_root: str | Path | None) -> Path:
    return paths.runs_dir(runs_root) / PAIRS_FOLDER / f"{name}.json"


def _paper_layers(spec: ArchSpec) -> tuple[str, ...] | None:
    """The paper's layers of torchvision's AlexNet, GoogLeNet and ResNet-50 (the zoo's)."""
    return DISSECTED_LAYERS.get(spec.name) if spec.kind == "torchvision" else None


def _stored_weights(folder: Path, digest: str) -> dict[str, torch.Tensor]:
    """The registered weights, read without running code and checked against their digest."""
    state = read_untrusted(folder / WEIGHTS)
    if not isinstance(state, dict) or state_digest(state) != digest:
        raise SelrobError(f"{folder / WEIGHTS} does not match the SHA-256 in {folder / RECORD}; register the model "
                          f"again: `selrob model remove {folder.name}` then `selrob model add`")
    return state


def _source(record: ModelRecord, spec: ArchSpec, folder: Path, runs_root: str | Path | None) -> UserModel:
    network = functools.partial(build_network, spec, dataset_info(record.dataset).num_classes)
    return UserModel(record, network, functools.partial(_stored_weights, folder, record.digest),
                     None if runs_root is None else Path(runs_root))


def add_model(name: str, dataset: str, arch: str, weights: str | Path | None = None,
              layers: Sequence[str] | None = None, mean: Sequence[float] | None = None,
              std: Sequence[float] | None = None, robust: bool = False,
              runs_root: str | Path | None = None) -> UserModel:
    """Register a model: build ``arch`` (a spec, :func:`~selrob.user_models.spec.parse_spec`) for
    the dataset's classes, fit ``weights`` (default: its random initialisation with seed 0),
    check its output width and ``layers`` (:func:`~selrob.user_models.source.describe`), then write
    the weights and the record. Returns its model source."""
    check_name(name, "model")
    folder = model_dir(name, runs_root)
    if (folder / RECORD).is_file():
        raise SelrobError(f"a model called {name!r} is registered already; `selrob model remove {name}` first")
    check_dataset(dataset, for_training=False)
    spec = parse_spec(arch)
    with torch.random.fork_rng():  # seed 0 for the initialisation kept without weights, the caller's RNG untouched
        torch.manual_seed(0)
        network = build_network(spec, dataset_info(dataset).num_classes)
    if weights is not None:
        fit_state(network, read_state(weights), str(weights), spec.text)
    record = describe(name, dataset, network, spec.text, spec.label, layers=layers,
                      default_layers=_paper_layers(spec), mean=mean, std=std, robust=robust, code=spec.code)
    (folder / RECORD).unlink(missing_ok=True)  # a half-written earlier attempt counts as missing
    save_torch(network.state_dict(), folder / WEIGHTS)
    write_json(folder / RECORD, {**record.to_json(), "weights_source": None if weights is None else str(Path(weights).resolve())})
    return _source(record, spec, folder, runs_root)


def _record(name: str, runs_root: str | Path | None) -> dict[str, Any]:
    path = model_dir(name, runs_root) / RECORD
    if not path.is_file():
        known = ", ".join(registered_models(runs_root)) or "none yet"
        raise SelrobError(f"no model called {name!r} is registered (registered: {known}); add it with "
                          "`selrob model add NAME --dataset D --arch SPEC`")
    return dict(read_json(path))


def get_model(name: str, runs_root: str | Path | None = None) -> UserModel:
    """The registered model ``name`` as a model source; refused when the file that builds it has
    changed since it was added (its cached results are the old code's)."""
    record = ModelRecord.from_json(_record(name, runs_root))
    spec = parse_spec(record.arch)
    if spec.code != record.code:
        raise SelrobError(f"{spec.path} changed since `selrob model add {name}`; results cached for the old code "
                          f"would be mixed with the new: `selrob model remove {name}`, then add it again")
    return _source(record, spec, model_dir(name, runs_root), runs_root)


def registered_models(runs_root: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Every registered model's record, by name."""
    root = paths.runs_dir(runs_root) / MODELS_FOLDER
    return {path.parent.name: dict(read_json(path)) for path in sorted(root.glob(f"*/{RECORD}"))}


def registered_pairs(runs_root: str | Path | None = None) -> dict[str, dict[str, str]]:
    """Every registered pair (its ``standard`` and ``robust`` model), by name."""
    root = paths.runs_dir(runs_root) / PAIRS_FOLDER
    return {path.stem: dict(read_json(path)) for path in sorted(root.glob("*.json"))}


def remove_model(name: str, runs_root: str | Path | None = None) -> Path:
    """Delete a registered model, its weights and its cached evaluations; refused while a pair uses it."""
    _record(name, runs_root)
    using = [pair for pair, members in registered_pairs(runs_root).items() if name in members.values()]
    if using:
        raise SelrobError(f"model {name!r} is in the pair(s) {', '.join(using)}; `selrob pair remove` them first")
    folder = model_dir(name, runs_root)
    (folder / RECORD).unlink()  # first: a model half deleted counts as missing
    shutil.rmtree(folder)
    return folder


def add_pair(name: str, standard: str, robust: str, runs_root: str | Path | None = None) -> Path:
    """Register a standard / robust pair of registered models of one dataset (the standard one not
    marked robust, the robust one marked so); returns its file."""
    check_name(name, "pair")
    path = _pair_path(name, runs_root)
    if path.is_file():
        raise SelrobError(f"a pair called {name!r} is registered already; `selrob pair remove {name}` first")
    records = {role: _record(model, runs_root) for role, model in (("standard", standard), ("robust", robust))}
    if records["standard"]["robust"]:
        raise SelrobError(f"--standard {standard} was added with --robust: give a standard model (added without it)")
    if not records["robust"]["robust"]:
        raise SelrobError(f"--robust {robust} was added without --robust: give a model added with --robust")
    if records["standard"]["dataset"] != records["robust"]["dataset"]:
        raise SelrobError(f"{standard!r} classifies {records['standard']['dataset']} and {robust!r} "
                          f"{records['robust']['dataset']}: a pair's models share their dataset")
    write_json(path, {"standard": standard, "robust": robust})
    return path


def _registered_pair(name: str, runs_root: str | Path | None) -> Path:
    path = _pair_path(name, runs_root)
    if not path.is_file():
        raise SelrobError(f"no pair called {name!r} is registered (registered: "
                          f"{', '.join(registered_pairs(runs_root)) or 'none yet'}); add it with "
                          "`selrob pair add NAME --standard MODEL --robust MODEL`")
    return path


def remove_pair(name: str, runs_root: str | Path | None = None) -> Path:
    """Forget a pair (its models and their evaluations stay)."""
    path = _registered_pair(name, runs_root)
    path.unlink()
    return path


def pair_sources(name: str, runs_root: str | Path | None = None) -> tuple[Relabelled, Relabelled]:
    """``(standard, robust)`` model sources of a registered pair, their ``arch`` the pair's name
    (:class:`~selrob.store.sources.Relabelled`)."""
    members = read_json(_registered_pair(name, runs_root))
    standard, robust = (Relabelled(get_model(members[role], runs_root), name) for role in ("standard", "robust"))
    return standard, robust
