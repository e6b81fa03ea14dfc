"""What ``selrob zoo list | download | import`` do (the CLI only parses): text to print, or a
one-line :class:`~selrob.errors.SelrobError`."""

from __future__ import annotations

from pathlib import Path

from selrob.errors import SelrobError
from selrob.zoo.entries import ENTRIES, PAIRS, get_entry
from selrob.zoo.weights import download, import_checkpoint, status


def zoo_table(runs_root: Path | None = None) -> str:
    """One row per entry (name, arch, training, status, published top-1) and the S/R pairs."""
    rows = [("name", "arch", "training", "status", "top-1 %")]
    rows += [(e.name, e.arch, e.training, status(e, runs_root), f"{e.clean_accuracy:.2f}") for e in ENTRIES.values()]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = ["  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip() for row in rows]
    pairs = ", ".join(f"{p.name} ({p.standard} / {p.robust}{'' if p.paper else ', not the paper'})" for p in PAIRS.values())
    return "\n".join([*lines, f"S/R pairs: {pairs}"])


def download_models(name: str, runs_root: Path | None = None, data_root: Path | None = None,
                    progress: bool = True) -> list[str]:
    """Download, verify and convert one entry, or ``all`` that can be downloaded; one line each."""
    if name != "all" and name not in ENTRIES:
        raise SelrobError(f"unknown zoo model {name!r}; choose all or one of: {', '.join(ENTRIES)}")
    entries = list(ENTRIES.values()) if name == "all" else [ENTRIES[name]]
    lines = []
    for entry in entries:
        if name == "all" and entry.url is None:
            lines.append(f"{entry.name}: import-only: get it from {entry.where}, then `selrob zoo import {entry.name} PATH`")
            continue
        lines.append(f"{entry.name}: {download(entry, runs_root, data_root, progress)}")
    return lines


def import_model(name: str, checkpoint: Path, runs_root: Path | None = None) -> str:
    """Convert a local checkpoint for the entry called ``name``; the line to print."""
    entry = get_entry(name)
    return f"{entry.name}: {import_checkpoint(entry, checkpoint, runs_root)}"
