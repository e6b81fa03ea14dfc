"""Datasets registered by name, each loaded as in-memory uint8 tensors with per-seed splits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from selrob import paths
from selrob.data import broden, cifar10, cue_conflict_stimuli, digits, imagenet, imagenet_a, shape_texture, stylized_sixteen, tinyimagenet
from selrob.data.base import DatasetInfo, ImageSet, Splits
from selrob.data.splits import validation_split
from selrob.errors import SelrobError


@dataclass(frozen=True)
class DatasetSource:
    """How to get one dataset: its facts, its loaders and (for downloadable ones) its downloader.

    ``load`` gives the training pool and the test set. A test-only dataset has no ``load`` and
    gives its test set through ``load_test``: ImageNet, whose validation set the model zoo is
    evaluated on (training on ImageNet is not supported yet). Its ``download`` verifies and
    preprocesses the files the user placed, since ImageNet cannot be fetched without an account.
    """

    info: DatasetInfo
    load: Callable[[Path], tuple[ImageSet, ImageSet]] | None
    download: Callable[[Path], Path] | None
    load_test: Callable[[Path], ImageSet] | None = None


DATASETS: dict[str, DatasetSource] = {
    "digits": DatasetSource(digits.INFO, lambda root: digits.load_pool_and_test(), None),
    "cifar10": DatasetSource(cifar10.INFO, cifar10.load_pool_and_test, cifar10.download),
    "tinyimagenet": DatasetSource(tinyimagenet.INFO, tinyimagenet.load_pool_and_test, tinyimagenet.download),
    "shapes": DatasetSource(shape_texture.INFO, lambda root: shape_texture.load_pool_and_test(), None),
    "imagenet": DatasetSource(imagenet.INFO, None, imagenet.prepare_val, imagenet.load_val),
}


def check_dataset(name: str, for_training: bool = True) -> str:
    """Return ``name`` if it is registered, else raise a one-line error listing the choices.

    By default the dataset must have a training pool (what training runs and their presets need);
    ``for_training=False`` also accepts test-only datasets."""
    choices = [key for key, source in DATASETS.items() if source.load is not None or not for_training]
    if name not in DATASETS:
        raise SelrobError(f"unknown dataset {name!r}; choose one of: {', '.join(choices)}")
    if name not in choices:
        raise SelrobError(f"dataset {name!r} is test-only here (the model zoo is evaluated on its validation set, "
                          f"`selrob zoo list`); training on it is not supported by `selrob train` and `sweep`: "
                          f"use `selrob train-imagenet`")
    return name


def dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of a registered dataset, test-only ones included."""
    return DATASETS[check_dataset(name, for_training=False)].info


# Test-only sets: evaluated on, never trained on.
EVALUATION_DOWNLOADS: dict[str, Callable[[Path], Path]] = {"imagenet-a": imagenet_a.download,
                                                           "cue-conflict": cue_conflict_stimuli.download,
                                                           "stylized-16": stylized_sixteen.download,
                                                           "broden": broden.download}


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
    load = DATASETS[check_dataset(name)].load
    assert load is not None  # check_dataset admits datasets with a training pool only
    return load(root)


def load_test_set(name: str, data_root: str | Path | None = None) -> ImageSet:
    """The fixed test set of ``name`` (what its corrupted sets are made from; ImageNet's validation set)."""
    load_test = DATASETS[check_dataset(name, for_training=False)].load_test
    root = paths.data_dir(data_root)
    return load_test(root) if load_test is not None else _pool_and_test(name, root)[1]


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
    pool, test = _pool_and_test(name, paths.data_dir(data_root))
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
