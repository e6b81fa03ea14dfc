"""Datasets registered by name, each loaded as in-memory uint8 tensors with per-seed splits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from selrob import paths
from selrob.data import cifar10, digits, imagenet_a, shape_texture, tinyimagenet
from selrob.data.base import DatasetInfo, ImageSet, Splits
from selrob.data.splits import validation_split
from selrob.errors import SelrobError


@dataclass(frozen=True)
class DatasetSource:
    """How to get one dataset: its facts, its loader and (for downloadable ones) its downloader."""

    info: DatasetInfo
    load: Callable[[Path], tuple[ImageSet, ImageSet]]
    download: Callable[[Path], Path] | None


DATASETS: dict[str, DatasetSource] = {
    "digits": DatasetSource(digits.INFO, lambda root: digits.load_pool_and_test(), None),
    "cifar10": DatasetSource(cifar10.INFO, cifar10.load_pool_and_test, cifar10.download),
    "tinyimagenet": DatasetSource(tinyimagenet.INFO, tinyimagenet.load_pool_and_test, tinyimagenet.download),
    "shapes": DatasetSource(shape_texture.INFO, lambda root: shape_texture.load_pool_and_test(), None),
}


def check_dataset(name: str) -> str:
    """Return ``name`` if it is registered, else raise a one-line error listing the choices."""
    if name not in DATASETS:
        raise SelrobError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    return name


def dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of a registered dataset."""
    return DATASETS[check_dataset(name)].info


# Test-only sets: evaluated on, never trained on.
EVALUATION_DOWNLOADS: dict[str, Callable[[Path], Path]] = {"imagenet-a": imagenet_a.download}


def download_dataset(name: str, data_root: str | Path | None = None) -> Path:
    """Download, verify and unpack ``name`` (a dataset or ``imagenet-a``) under the data folder;
    returns its folder."""
    if name in EVALUATION_DOWNLOADS:
        return EVALUATION_DOWNLOADS[name](paths.data_dir(data_root))
    if name not in DATASETS:
        raise SelrobError(f"unknown dataset {name!r}; choose one of: {', '.join([*DATASETS, *EVALUATION_DOWNLOADS])}")
    source = DATASETS[name]
    if source.download is None:
        raise SelrobError(f"{name} ships with its package; nothing to download")
    return source.download(paths.data_dir(data_root))


@lru_cache(maxsize=2)
def _pool_and_test(name: str, root: Path) -> tuple[ImageSet, ImageSet]:
    return DATASETS[name].load(root)


def load_test_set(name: str, data_root: str | Path | None = None) -> ImageSet:
    """The fixed test set of ``name`` (what its corrupted sets are made from)."""
    return _pool_and_test(check_dataset(name), paths.data_dir(data_root))[1]


def load_splits(
    name: str,
    seed: int,
    val_per_class: int,
    data_root: str | Path | None = None,
    max_train_samples: int | None = None,
    max_eval_samples: int | None = None,
) -> Splits:
    """Train / validation / test sets for ``seed``.

    ``max_train_samples`` keeps a seed-dependent random subset of the training images and
    ``max_eval_samples`` the first images of the validation and test sets (smoke runs).
    """
    pool, test = _pool_and_test(check_dataset(name), paths.data_dir(data_root))
    train_index, val_index = validation_split(pool.labels, val_per_class, seed)
    if max_train_samples is not None:
        keep = torch.randperm(len(train_index), generator=torch.Generator().manual_seed(seed))
        train_index = train_index[keep[:max_train_samples]].sort().values
    val = pool.subset(val_index)
    return Splits(pool.subset(train_index), val.head(max_eval_samples), test.head(max_eval_samples), DATASETS[name].info)


__all__ = [
    "DATASETS",
    "DatasetInfo",
    "ImageSet",
    "Splits",
    "check_dataset",
    "dataset_info",
    "download_dataset",
    "load_splits",
    "load_test_set",
]
