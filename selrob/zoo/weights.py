"""Where zoo checkpoints and their converted weights live; download, import and load.

Layout (owned here alone):

* ``<data>/zoo/<file name>``: a downloaded checkpoint as published (delete it to save space once
  converted);
* ``<runs>/zoo/<name>/weights.pt``: the converted weights, a plain state dict in torchvision's
  keys, written once per download or import;
* ``<runs>/zoo/<name>/weights.json``: its SHA-256 and where it came from (the source file's
  SHA-256, URL or path, ``downloaded``, ``imported`` or ``trained`` here), written last: its
  presence marks a converted model, and loading checks the digest first;
* ``<runs>/zoo/<name>/evaluations/``: the model's cached evaluations (:mod:`selrob.zoo.sources`).

A download goes to a temporary name and is kept only once its SHA-256 starts with the published
prefix (torch.hub's check; entries without one get their digest recorded). Conversion loads the
weights strictly into the torchvision architecture before anything is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from selrob import paths
from selrob.data.download import file_digest
from selrob.errors import SelrobError
from selrob.io import read_json, save_torch, write_json
from selrob.zoo.checkpoints import check_sha256, extract_state_dict, read_untrusted
from selrob.zoo.entries import ZooEntry
from selrob.models.state import load_strictly
from selrob.zoo.networks import build_network

WEIGHTS = "weights.pt"
RECORD = "weights.json"


def model_dir(entry: ZooEntry, runs_root: str | Path | None = None) -> Path:
    """``<runs>/zoo/<name>``: the entry's converted weights and evaluations."""
    return paths.runs_dir(runs_root) / "zoo" / entry.name


def download_path(entry: ZooEntry, data_root: str | Path | None = None) -> Path:
    """Where the entry's published checkpoint is downloaded to (``<data>/zoo/<file name>``)."""
    if entry.file_name is None:
        raise SelrobError(f"{entry.name} has no public download: get it from {entry.where}, then run "
                          f"`selrob zoo import {entry.name} PATH`")
    return paths.data_dir(data_root) / "zoo" / entry.file_name


def how_to_get(entry: ZooEntry) -> str:
    """The command that makes the entry's weights."""
    return f"selrob zoo download {entry.name}" if entry.url else f"selrob zoo import {entry.name} PATH"


def status(entry: ZooEntry, runs_root: str | Path | None = None) -> str:
    """``downloaded`` or ``imported`` once converted, else ``missing``."""
    record = model_dir(entry, runs_root) / RECORD
    return str(read_json(record)["status"]) if record.is_file() else "missing"


def _store(entry: ZooEntry, state: dict[str, Any], origin: str, record: dict[str, Any],
           runs_root: str | Path | None) -> Path:
    """Load ``state`` strictly into the architecture, then write it and its record (last)."""
    network = build_network(entry.arch, entry.transform_input)
    load_strictly(network, state, origin, f"torchvision's {entry.arch}")
    folder = model_dir(entry, runs_root)
    (folder / RECORD).unlink(missing_ok=True)  # the model counts as missing until both files are new
    save_torch(network.state_dict(), folder / WEIGHTS)
    write_json(folder / RECORD, {"model": entry.name, **record, "sha256": file_digest(folder / WEIGHTS, "sha256")})
    return folder / WEIGHTS


def convert(entry: ZooEntry, checkpoint: Path, how: str, source: str, runs_root: str | Path | None = None) -> Path:
    """Check ``checkpoint``'s SHA-256, read it without running code, map its keys, load it strictly
    into the architecture and write the plain state dict with its record; returns the weights file."""
    source_sha256 = check_sha256(checkpoint, entry.sha256_prefix, str(checkpoint))
    state = extract_state_dict(read_untrusted(checkpoint), entry, checkpoint)
    return _store(entry, state, str(checkpoint), {"status": how, "format": entry.checkpoint_format, "source": source,
                                                  "source_sha256": source_sha256}, runs_root)


def register_trained(entry: ZooEntry, state: dict[str, Any], source: str, runs_root: str | Path | None = None) -> Path:
    """Make weights trained here (torchvision keys; :mod:`selrob.training.data_parallel`) the
    entry's model, status ``trained``: no published checksum applies to them, their own SHA-256 is
    recorded as for every converted model; returns the weights file."""
    return _store(entry, state, source, {"status": "trained", "format": "torchvision", "source": source}, runs_root)


def _fetch(entry: ZooEntry, destination: Path, progress: bool) -> None:
    """Download with torch.hub, which writes to a temporary file and keeps it only if its SHA-256
    starts with the published prefix."""
    assert entry.url is not None  # download_path refuses import-only entries first
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(entry.url, str(destination), hash_prefix=entry.sha256_prefix, progress=progress)
    except OSError as err:
        raise SelrobError(f"could not download {entry.url} ({err}); download it yourself and run "
                          f"`selrob zoo import {entry.name} PATH`") from None
    except RuntimeError as err:  # torch.hub's "invalid hash value"
        raise SelrobError(f"checksum mismatch for {entry.url}: expected a SHA-256 starting with "
                          f"{entry.sha256_prefix} ({err})") from None


def download(entry: ZooEntry, runs_root: str | Path | None = None, data_root: str | Path | None = None,
             progress: bool = True) -> Path:
    """Download, verify and convert the entry (nothing is redone once converted); returns its weights file."""
    destination = download_path(entry, data_root)
    if status(entry, runs_root) != "missing":
        return model_dir(entry, runs_root) / WEIGHTS
    # A copy placed by hand is used if its checksum matches, else fetched again (as download_file does).
    if not destination.is_file() or not file_digest(destination, "sha256").startswith(entry.sha256_prefix or ""):
        _fetch(entry, destination, progress)
    return convert(entry, destination, "downloaded", entry.url or "", runs_root)


def import_checkpoint(entry: ZooEntry, checkpoint: Path, runs_root: str | Path | None = None) -> Path:
    """Convert a local checkpoint for the entry (AlexNet-R and GoogLeNet-R come only this way; any
    entry can); returns the weights file."""
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise SelrobError(f"checkpoint {checkpoint} does not exist")
    return convert(entry, checkpoint, "imported", str(checkpoint.resolve()), runs_root)


def weights_digest(entry: ZooEntry, runs_root: str | Path | None = None) -> str | None:
    """The recorded SHA-256 of the converted weights, ``None`` while the model is missing."""
    record = model_dir(entry, runs_root) / RECORD
    return str(read_json(record)["sha256"]) if record.is_file() else None


def load_weights(entry: ZooEntry, runs_root: str | Path | None = None) -> dict[str, Any]:
    """The converted state dict, after checking it against its recorded SHA-256."""
    folder = model_dir(entry, runs_root)
    if status(entry, runs_root) == "missing":
        raise SelrobError(f"zoo model {entry.name} is not there yet; run `{how_to_get(entry)}`")
    recorded = read_json(folder / RECORD)["sha256"]
    if not (folder / WEIGHTS).is_file() or file_digest(folder / WEIGHTS, "sha256") != recorded:
        raise SelrobError(f"{folder / WEIGHTS} does not match the SHA-256 in {folder / RECORD}; "
                          f"convert it again: `{how_to_get(entry)}`")
    return read_untrusted(folder / WEIGHTS)
