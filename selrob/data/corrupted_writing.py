"""Writing generated -C sets in the official releases' layouts (:mod:`selrob.data.corrupted`):
the folder's manifest of how it was made, a corruption's ``.npy`` block (CIFAR-10-C's layout) or
its JPEG folders (Tiny-ImageNet-C's), each written atomically."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from selrob.data.corrupted import JPEG_QUALITY, MANIFEST, SEVERITY_LEVELS
from selrob.errors import SelrobError
from selrob.io import atomic_write, read_json


def write_manifest(folder: Path, settings: dict[str, Any]) -> None:
    """Record how a generated set is made; refuse to mix settings in one folder."""
    manifest = folder / MANIFEST
    if manifest.is_file() and read_json(manifest) != settings:
        raise SelrobError(f"{folder} was generated with other settings ({manifest}); delete it or pick another --data-dir")
    if not manifest.is_file():
        atomic_write(manifest, lambda handle: handle.write(json.dumps(settings, indent=2, sort_keys=True).encode()))


def write_npy_block(folder: Path, corruption: str, images: np.ndarray) -> None:
    """Write one corruption's (5 N, H, W, C) array atomically."""
    atomic_write(folder / f"{corruption}.npy", lambda handle: np.save(handle, images))


def write_jpeg_block(folder: Path, corruption: str, images: np.ndarray, labels: np.ndarray, wnids: list[str]) -> None:
    """Write one corruption's five severities as JPEG folders, into a hidden folder renamed at the end."""
    partial = folder / f".partial-{corruption}"
    shutil.rmtree(partial, ignore_errors=True)  # left by an interrupted run
    per = len(labels) // len(SEVERITY_LEVELS)
    for row, (image, label) in enumerate(zip(images, labels)):
        severity, index = divmod(row, per)
        target = partial / str(severity + 1) / wnids[int(label)]
        target.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(target / f"test_{index}.JPEG", quality=JPEG_QUALITY)
    partial.replace(folder / corruption)
