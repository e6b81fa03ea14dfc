"""The frost photographs of the reference scripts, fetched once from the ``imagecorruptions`` wheel.

The wheel on PyPI ships the six photographs as package data. Its Python module is broken under
NumPy 2, so it is never installed or imported: the wheel is downloaded (checked against PyPI's
SHA-256), and only the photographs are copied out of it, each checked against its own SHA-256.
They are cached in the ``frost`` folder of the data folder (``--data-dir``, else ``$SELROB_DATA``;
:func:`photos_folder`) and decoded once per process.
"""

from __future__ import annotations

import functools
import hashlib
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import numpy as np
from PIL import Image

from selrob import paths
from selrob.data.download import download_file, empty_folders_removed
from selrob.errors import SelrobError
from selrob.io import atomic_write

WHEEL_URL = (
    "https://files.pythonhosted.org/packages/3e/40/ff4a79ad7ab6463fe2fde7912b71084a6606e33676078a50b40a3377112b/"
    "imagecorruptions-1.1.2-py3-none-any.whl"
)
WHEEL_SHA256 = "d0e4bf529ba6fbb27d8aba1bde7c5db43bf2b969b2c767c11419e939e3e365b8"
# The reference draws from the first five only (``np.random.randint(5)``); frost6 is never used.
PHOTOS: dict[str, str] = {
    "frost1.png": "ff9f907860bd7a835d459e32f9d588062b7f61ee267343cc7222b56753a14755",
    "frost2.png": "fe211a89b336999c207a852ce05818d4545d0b57c5beadd824b4cc9d9a9b6137",
    "frost3.png": "2d0d50b4a9bb213f38b024ef7768731bb83cc08d2f26b5766bbc167cdfa0e504",
    "frost4.jpg": "3f8b91ca1a9fa7167b09e773da53f5ae60d0a1fd88f02a783f6e328a72887f6e",
    "frost5.jpg": "5fc6a19df4a429ba68abdcc8f8a4278d4c9f81c9ccafd2c92ab0c8cf8992ebd2",
}


#: The folder the frost corruption reads its photographs from (None: ``$SELROB_DATA/frost``).
_FOLDER: ContextVar[Path | None] = ContextVar("frost_photos_folder", default=None)


@contextmanager
def photos_folder(data_root: str | Path | None) -> Iterator[Path]:
    """Within the block, the frost corruption reads its photographs from ``<data_root>/frost``
    (``data_root`` None: ``$SELROB_DATA``), the data folder a command was given."""
    folder = paths.data_dir(data_root) / "frost"
    token = _FOLDER.set(folder)
    try:
        yield folder
    finally:
        _FOLDER.reset(token)


def current_folder() -> Path:
    """The folder the frost corruption reads now: :func:`photos_folder`'s within its block, else
    ``$SELROB_DATA/frost``."""
    return _FOLDER.get() or paths.data_dir() / "frost"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_frost_photos(folder: Path | None = None, url: str = WHEEL_URL, progress: bool = True) -> Path:
    """Make sure the five frost photographs are in ``folder`` (default: :func:`current_folder`).

    Photos already present with the right checksum are kept; otherwise the wheel is downloaded to
    a temporary folder and the missing photos are extracted by name (nothing else in the archive
    is read, so a hostile entry name cannot write anywhere).
    """
    folder = Path(folder) if folder is not None else current_folder()
    missing = [name for name, sha in PHOTOS.items() if not (folder / name).is_file() or _sha256((folder / name).read_bytes()) != sha]
    if not missing:
        return folder
    with empty_folders_removed(folder), tempfile.TemporaryDirectory() as tmp:
        try:  # before the download: an unwritable folder is found at once
            folder.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=folder).close()
        except OSError as err:
            raise SelrobError(f"cannot write the frost photographs to {folder} ({err.strerror}); "
                              "give a writable data folder (--data-dir or SELROB_DATA)") from None
        wheel = download_file(url, Path(tmp) / "imagecorruptions.whl", WHEEL_SHA256, progress=progress)
        with zipfile.ZipFile(wheel) as archive:
            for name in missing:
                try:
                    data = archive.read(f"imagecorruptions/frost/{name}")
                except KeyError:
                    raise SelrobError(f"{url} has no frost photograph {name}") from None
                if _sha256(data) != PHOTOS[name]:
                    raise SelrobError(f"frost photograph {name} from {url} fails its SHA-256 check")
                atomic_write(folder / name, lambda handle: handle.write(data))
    return folder


@functools.lru_cache(maxsize=4)
def frost_photos(folder: Path) -> tuple[np.ndarray, ...]:
    """The five photographs in ``folder`` as uint8 RGB arrays (fetched on first use)."""
    folder = fetch_frost_photos(folder)
    return tuple(np.asarray(Image.open(folder / name).convert("RGB")) for name in PHOTOS)
