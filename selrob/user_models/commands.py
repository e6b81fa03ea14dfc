"""What ``selrob model add | list | remove`` and ``selrob pair add | list | remove`` print (the CLI
only parses): text, or a one-line :class:`~selrob.errors.SelrobError`."""

from __future__ import annotations

from pathlib import Path

from selrob.user_models.store import registered_models, registered_pairs


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join("  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip() for row in rows)


def model_table(runs_root: Path | None = None) -> str:
    """One row per registered model: name, dataset, arch, training, layers, weights' SHA-256 (12 digits)."""
    models = registered_models(runs_root)
    if not models:
        return "no models registered yet; add one with `selrob model add NAME --dataset D --arch SPEC [--weights PATH]`"
    rows = [("name", "dataset", "arch", "training", "layers", "sha256")]
    rows += [(name, record["dataset"], record["arch"], "robust" if record["robust"] else "standard",
              ",".join(record["layers"]), record["digest"][:12]) for name, record in models.items()]
    return _table(rows)


def pair_table(runs_root: Path | None = None) -> str:
    """One row per registered pair: name, standard model, robust model."""
    pairs = registered_pairs(runs_root)
    if not pairs:
        return "no pairs registered yet; add one with `selrob pair add NAME --standard MODEL --robust MODEL`"
    return _table([("name", "standard", "robust"), *((name, p["standard"], p["robust"]) for name, p in pairs.items())])
