"""The one result cache: compute unless cached, keyed by the parameters, parameters stored beside
the result, written atomically.

A :class:`CacheEntry` is the file ``<folder>/<kind>-<key of params>.json``. It holds either one
result (``{"params": ..., "result": ...}``, :meth:`CacheEntry.get_or_compute`) or a resumable
result made of named cells (``{"params": ..., "cells": {name: value}}``): each cell is stored as
soon as it is computed, so an interrupted evaluation resumes with the cells it lacks, and the
entry is complete when every expected cell is there (:func:`missing_cells`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from selrob.io import params_key, read_json, write_json

T = TypeVar("T")


def _as_stored(params: Mapping[str, Any]) -> Any:
    """``params`` as they read back from JSON (tuples become lists), for comparison with a file."""
    return json.loads(json.dumps(params))


@dataclass(frozen=True)
class CacheEntry:
    """One cached result of ``kind`` with ``params`` in ``folder``."""

    folder: Path
    kind: str
    params: Mapping[str, Any]

    @property
    def path(self) -> Path:
        return self.folder / f"{self.kind}-{params_key(self.params)}.json"

    def _stored(self) -> dict[str, Any] | None:
        """The file's content when it exists and was produced by these params."""
        if not self.path.is_file():
            return None
        stored = read_json(self.path)
        return stored if stored.get("params") == _as_stored(self.params) else None

    def exists(self) -> bool:
        """True when a whole result is stored (:meth:`get_or_compute` would not compute)."""
        stored = self._stored()
        return stored is not None and "result" in stored

    def get_or_compute(self, compute: Callable[[], T]) -> T:
        """The stored result, or ``compute()`` stored atomically and returned."""
        stored = self._stored()
        if stored is not None and "result" in stored:
            return stored["result"]
        result = compute()
        write_json(self.path, {"params": dict(self.params), "result": result})
        return result

    def cells(self) -> dict[str, Any]:
        """The cells stored so far (empty when none)."""
        stored = self._stored()
        return dict(stored.get("cells", {})) if stored is not None else {}

    def is_complete(self, expected: Iterable[str]) -> bool:
        """True when every ``expected`` cell is stored."""
        return not missing_cells(self.cells(), expected)

    def write_cells(self, cells: Mapping[str, Any]) -> None:
        """Store ``cells`` (all of them: the caller holds what :meth:`cells` returned) atomically,
        in compact JSON since these files are rewritten after every cell."""
        write_json(self.path, {"params": dict(self.params), "cells": dict(cells)}, compact=True)

    def merge_cells(self, cells: Mapping[str, Any]) -> None:
        """Add ``cells`` to what is stored, for evaluations that fill another's cache."""
        self.write_cells(self.cells() | dict(cells))


def missing_cells(cells: Mapping[str, Any], expected: Iterable[str]) -> list[str]:
    """The ``expected`` cells not in ``cells``, in their order: the one definition of complete."""
    return [name for name in expected if name not in cells]
