"""Atomic file writes and safe reads (an interrupted process never leaves a half-written file), and
the one short hash that names files by their contents or parameters."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import torch

from selrob.errors import SelrobError

# mkstemp creates files readable by their owner only; results should get the usual mode
# (0666 minus the umask) so that collaborators on a shared file system can read them.
_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, flush it to disk, then rename it into place.

    The rename is atomic on POSIX file systems, so readers see either the old or the new file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), FILE_MODE)
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def short_hash(text: str) -> str:
    """The 10-hex-digit name of ``text`` used in folder and cache file names (SHA-1 prefix)."""
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def params_key(params: Any) -> str:
    """:func:`short_hash` of JSON-ready ``params`` (keys sorted, so order does not matter)."""
    return short_hash(json.dumps(params, sort_keys=True))


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 text atomically."""
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def write_json(path: Path, obj: Any, compact: bool = False) -> None:
    """Write JSON atomically, keys sorted and indented so diffs of result files stay readable;
    ``compact`` (one line) for big files rewritten often, which Python encodes 10x faster."""
    write_text(path, json.dumps(obj, indent=None if compact else 2, sort_keys=True) + "\n")


def read_json(path: Path) -> Any:
    """Read JSON, turning a missing or corrupt file into a one-line :class:`SelrobError`."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SelrobError(f"{path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SelrobError(f"{path} is corrupt ({err}); delete it to recompute") from None


def save_torch(obj: Any, path: Path) -> None:
    """``torch.save`` atomically."""
    atomic_write(path, lambda handle: torch.save(obj, handle))


def load_torch(path: Path, foreign: str | None = None) -> Any:
    """Load a checkpoint as untrusted data (``weights_only=True``: no code runs) onto the CPU.

    A file that does not load is one error line: for this project's own checkpoints (``foreign``
    is ``None``) how to restart the run; for a file from elsewhere :func:`why_not_a_checkpoint`,
    followed by ``foreign`` (what to do about it) when that is not empty.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise SelrobError(f"checkpoint {path} does not exist") from None
    except Exception as err:  # torch raises many types for truncated, foreign or malicious files
        if foreign is not None:
            raise SelrobError("; ".join(filter(None, (why_not_a_checkpoint(Path(path), err), foreign)))) from None
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise SelrobError(
            f"checkpoint {path} is unreadable ({reason}); delete it to restart that run"
        ) from None


def why_not_a_checkpoint(path: Path, err: Exception) -> str:
    """One plain sentence on why ``torch.load`` of ``path`` failed with ``err``: a pickle that
    would load code (named), an unreadable or empty file, a zip archive cut short (no end record)
    or not a checkpoint, a checkpoint that is damaged (torch's reason), or a file that is no
    PyTorch checkpoint at all."""
    if match := re.search(r"GLOBAL ([\w.]+)", str(err)):
        return f"refusing {path}: it would load {match.group(1)} when read, which is neither a tensor nor plain data"
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
        whole_zip = zipfile.is_zipfile(path)
        members: list[str] = []
        if whole_zip:
            with zipfile.ZipFile(path) as archive:
                members = archive.namelist()
    except (OSError, zipfile.BadZipFile) as unreadable:
        return f"{path} cannot be read: {unreadable}"
    reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
    if not head:
        return f"{path} is empty, not a PyTorch checkpoint"
    if whole_zip and not any(name.endswith("data.pkl") for name in members):
        return f"{path} is a zip archive, not a PyTorch checkpoint"
    if head.startswith(b"PK\x03\x04") and not whole_zip:
        return f"{path} is not a complete PyTorch checkpoint: it is cut short (its zip end record is missing)"
    # torch.save writes a zip archive (since PyTorch 1.6) or, in the legacy format, a pickle.
    if whole_zip or head.startswith(b"\x80"):
        return f"{path} is a damaged PyTorch checkpoint ({reason})"
    return f"{path} is not a PyTorch checkpoint (a file written by torch.save)"
