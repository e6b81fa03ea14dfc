"""Evaluations cached in a run folder, keyed by everything that produced them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from selrob.io import read_json, write_json

T = TypeVar("T")


def params_key(params: dict[str, Any]) -> str:
    """Short hash of JSON-ready ``params``."""
    return hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]


def cache_path(folder: Path, kind: str, params: dict[str, Any]) -> Path:
    """``<folder>/<kind>-<key of params>.json``."""
    return folder / f"{kind}-{params_key(params)}.json"


def cached_result(folder: Path, kind: str, params: dict[str, Any], compute: Callable[[], T]) -> T:
    """The result stored for (``kind``, ``params``) in ``folder``, or ``compute()`` written there
    atomically (with ``params`` beside it, so the file says what produced it)."""
    path = cache_path(folder, kind, params)
    if path.is_file():
        stored = read_json(path)
        if stored.get("params") == json.loads(json.dumps(params)):
            return stored["result"]
    result = compute()
    write_json(path, {"params": params, "result": result})
    return result
