"""CIFAR-10 (Krizhevsky 2009): the official python-format archive, verified and read safely.

Download: ``cifar-10-python.tar.gz`` from the dataset's home page, checked against the MD5 that
torchvision publishes (``torchvision.datasets.CIFAR10.tgz_md5``; a test keeps them equal).
On disk: ``<root>/cifar-10-batches-py/data_batch_{1..5}`` and ``test_batch``, pickled dicts with
``data`` (N, 3072) uint8 rows (1024 red, 1024 green, 1024 blue values, each 32x32 row-major) and
``labels``. Pickles can run code, so they are read with an unpickler that only builds dicts,
lists, strings, numbers and NumPy arrays.
"""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from selrob.data.base import DatasetInfo, ImageSet
from selrob.data.download import download_file, safe_extract
from selrob.errors import SelrobError

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE = "cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"

INFO = DatasetInfo(
    name="cifar10",
    num_classes=10,
    in_channels=3,
    image_size=32,
    # The widely used CIFAR-10 training-set statistics.
    mean=(0.4914, 0.4822, 0.4465),
    std=(0.2470, 0.2435, 0.2616),
    hflip=True,
    crop_padding=4,
)

_ALLOWED_GLOBALS = {
    ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    # Protocol 5 (pickle.HIGHEST_PROTOCOL since Python 3.8) stores an array as its raw buffer.
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


_NUMPY_2 = importlib.util.find_spec("numpy._core") is not None


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global except what bytes and a NumPy array need."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module.startswith("numpy.core.") and _NUMPY_2:  # NumPy 1's name of NumPy 2's numpy._core
            module = "numpy._core." + module.removeprefix("numpy.core.")
        elif module.startswith("numpy._core.") and not _NUMPY_2:
            module = "numpy.core." + module.removeprefix("numpy._core.")
        return super().find_class(module, name)


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as handle:
            batch = _ArrayUnpickler(handle, encoding="bytes").load()
        batch = {(k.decode() if isinstance(k, bytes) else k): v for k, v in batch.items()}
        data = np.asarray(batch["data"], dtype=np.uint8)
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except FileNotFoundError:
        raise
    except Exception as err:
        raise SelrobError(f"{path} is not a valid CIFAR-10 batch ({err})") from None
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (data.shape[0],):
        raise SelrobError(f"{path} is not a valid CIFAR-10 batch (data shape {data.shape})")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise SelrobError(f"{path} has labels outside 0..9")
    return data.reshape(-1, 3, 32, 32), labels


def download(root: Path, url: str = URL, md5: str = ARCHIVE_MD5, progress: bool = True) -> Path:
    """Download and extract CIFAR-10 into ``root`` (skipped when already there)."""
    folder = Path(root) / FOLDER
    if all((folder / name).is_file() for name in (*TRAIN_BATCHES, TEST_BATCH)):
        return folder
    archive = download_file(url, Path(root) / ARCHIVE, md5, progress)
    safe_extract(archive, Path(root))
    return folder


def load_pool_and_test(root: Path) -> tuple[ImageSet, ImageSet]:
    """The 50k training images (the pool the validation split is drawn from) and the 10k test images."""
    folder = Path(root) / FOLDER
    try:
        train = [_read_batch(folder / name) for name in TRAIN_BATCHES]
        test = _read_batch(folder / TEST_BATCH)
    except FileNotFoundError as err:
        raise SelrobError(
            f"CIFAR-10 not found ({err.filename} is missing); download it with "
            f"`selrob data download cifar10 --data-dir {root}`"
        ) from None

    def as_set(images: np.ndarray, labels: np.ndarray) -> ImageSet:
        return ImageSet(torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels))

    return (
        as_set(np.concatenate([b[0] for b in train]), np.concatenate([b[1] for b in train])),
        as_set(*test),
    )
