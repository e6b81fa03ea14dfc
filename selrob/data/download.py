"""Downloads verified against published MD5 or SHA-256 checksums, and archive extraction that cannot escape.

Downloaded archives are untrusted: an entry named ``../x`` or ``/etc/x``, a link, or a device file
is refused before anything is written. torchvision's own extraction does not check this.
"""

from __future__ import annotations

import hashlib
import shutil
import stat
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from selrob.progress import progress_bar

from selrob.errors import SelrobError


def file_digest(path: Path, algorithm: str = "md5", chunk_size: int = 1 << 20) -> str:
    """Hex digest (``md5`` or ``sha256``) of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _algorithm(checksum: str) -> str:
    """Published checksums are MD5 (32 hex digits: Zenodo, CS231n) or SHA-256 (64: PyPI)."""
    algorithms = {32: "md5", 64: "sha256"}
    if len(checksum) not in algorithms:
        raise ValueError(f"checksum {checksum!r} is neither an MD5 nor a SHA-256 hex digest")
    return algorithms[len(checksum)]


def download_file(url: str, destination: Path, checksum: str, progress: bool = True) -> Path:
    """Download ``url`` to ``destination`` and check its MD5 or SHA-256; skip if a verified copy
    exists.

    The file is written under a temporary name and renamed only after the checksum matches, so a
    failed or interrupted download leaves nothing behind (not even a folder it created). A copy
    placed at ``destination`` by hand is used when its checksum matches; a failed download says so.
    """
    destination = Path(destination)
    algorithm = _algorithm(checksum)
    if destination.is_file() and file_digest(destination, algorithm) == checksum:
        return destination
    with empty_folders_removed(destination.parent):
        destination.parent.mkdir(parents=True, exist_ok=True)
        _download_verified(url, destination, checksum, algorithm, progress)
    return destination


@contextmanager
def empty_folders_removed(*folders: Path) -> Iterator[None]:
    """Remove, after the block, those of ``folders`` and their ancestors that did not exist before
    it and are empty after it, innermost first: a download that fails leaves no folder it made."""
    made = sorted({f for folder in folders for f in (Path(folder), *Path(folder).parents) if not f.exists()},
                  key=lambda f: len(f.parts), reverse=True)
    try:
        yield
    finally:
        for folder in made:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()


def _download_verified(url: str, destination: Path, checksum: str, algorithm: str, progress: bool) -> None:
    """``url`` to ``destination`` through a temporary file, renamed only once its checksum matches."""
    fd, tmp_name = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.")
    tmp = Path(tmp_name)
    try:
        with urllib.request.urlopen(url) as response, open(fd, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with progress_bar(total=total, unit="B", unit_scale=True, desc=destination.name, disable=not progress) as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
        actual = file_digest(tmp, algorithm)
        if actual != checksum:
            raise SelrobError(f"checksum mismatch for {url}: expected {algorithm.upper()} {checksum}, got {actual}")
        tmp.replace(destination)
    except OSError as err:
        raise SelrobError(f"could not download {url}: {err}; download it yourself and place it at {destination} "
                          f"({algorithm.upper()} {checksum}), then run the same command") from None
    finally:
        tmp.unlink(missing_ok=True)


def _check_member(name: str, target: Path) -> None:
    pure = PurePosixPath(name)
    resolved = (target / pure).resolve()
    if pure.is_absolute() or ".." in pure.parts or not resolved.is_relative_to(target.resolve()):
        raise SelrobError(f"archive entry {name!r} would be written outside {target}; refusing to extract")


def safe_extract(archive: Path, target: Path) -> None:
    """Extract a .tar(.gz) or .zip archive into ``target``, refusing unsafe entries.

    Only regular files and folders are allowed. Everything is extracted into a temporary folder
    inside ``target`` first and moved into place at the end, so a refused or broken archive
    leaves ``target`` unchanged.
    """
    archive, target = Path(archive), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target, prefix=".extract-"))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    _check_member(info.filename, target)
                    mode = info.external_attr >> 16
                    if mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                        raise SelrobError(f"archive entry {info.filename!r} is not a plain file; refusing to extract")
                zf.extractall(staging)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                members = tf.getmembers()
                for member in members:
                    _check_member(member.name, target)
                    if not (member.isfile() or member.isdir()):
                        raise SelrobError(f"archive entry {member.name!r} is not a plain file; refusing to extract")
                tf.extractall(staging, members=members, filter="data")
        else:
            raise SelrobError(f"{archive} is neither a tar nor a zip archive")
        for entry in staging.iterdir():
            destination = target / entry.name
            if destination.exists():
                shutil.rmtree(destination) if destination.is_dir() else destination.unlink()
            entry.replace(destination)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as err:
        raise SelrobError(f"{archive} is corrupt ({err})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
