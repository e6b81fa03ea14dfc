"""Trained runs as tidy pandas DataFrames, for notebooks and the CLI.

* :func:`load_results` - every finished run under the runs folder, optionally filtered.
* :func:`load_sweep` - exactly the runs of one sweep (the preset grid, or a chosen alpha/seeds),
  with a clear error naming the command that trains any that are missing. Plots never train.
* :func:`load_pgd_training` - the PGD-training sweep (Figure A16).

Evaluations of these runs are tables of :mod:`selrob.tables.evaluations`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from selrob import paths
from selrob.arguments import override_flags
from selrob.config import TrainConfig, as_tuple, pgd_training_grid, sweep_configs
from selrob.errors import SelrobError
from selrob.store.runs import Run, find_runs, format_alpha
from selrob.store.sources import first_test_images

RUN_COLUMNS = ["dataset", "arch", "alpha", "seed", "test_accuracy", "mean_selectivity", "val_accuracy", "best_epoch",
               "protocol", "run_dir"]
LAYER_COLUMNS = ["dataset", "arch", "alpha", "seed", "protocol", "layer", "layer_name", "units", "selectivity", "dead_units"]


@dataclass
class SweepResults:
    """One row per run (``runs``) and one row per (run, layer) (``layers``)."""

    runs: pd.DataFrame
    layers: pd.DataFrame


def _tables(runs: Iterable[Run]) -> SweepResults:
    run_rows: list[dict[str, Any]] = []
    layer_rows: list[dict[str, Any]] = []
    for run in runs:
        config = run.config()
        summary = run.summary()
        identity = {"dataset": config.dataset, "arch": config.arch, "alpha": config.alpha, "seed": config.seed}
        protocol = config.protocol_key()
        settings = {k: v for k, v in config.to_dict().items() if k not in identity}
        run_rows.append(
            {
                **identity,
                "test_accuracy": summary["test_accuracy"],
                "mean_selectivity": summary["mean_selectivity"],
                "val_accuracy": summary["val_accuracy"],
                "best_epoch": summary["best_epoch"],
                "train_seconds": summary["train_seconds"],
                "protocol": protocol,
                **{k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()},
                "run_dir": str(run.path),
            }
        )
        for layer in summary["layers"]:
            layer_rows.append(
                {
                    **identity,
                    "protocol": protocol,
                    "layer": layer["index"],
                    "layer_name": layer["name"],
                    "units": layer["units"],
                    "selectivity": layer["selectivity"],
                    "dead_units": layer["dead_units"],
                }
            )
    runs_frame = pd.DataFrame(run_rows) if run_rows else pd.DataFrame(columns=RUN_COLUMNS)
    layers_frame = pd.DataFrame(layer_rows, columns=LAYER_COLUMNS)
    return SweepResults(runs_frame, layers_frame)


def load_results(
    runs_root: str | Path | None = None,
    *,
    dataset: str | None = None,
    arch: str | None = None,
    alpha: float | Sequence[float] | None = None,
    seeds: int | Sequence[int] | None = None,
    layers: bool = False,
) -> pd.DataFrame:
    """Every finished run, one row each, with at least the columns of ``RUN_COLUMNS`` plus every
    training setting, ``protocol`` (the settings' key) and ``run_dir``.

    With ``layers=True`` returns the per-layer table instead (``LAYER_COLUMNS``).
    """
    wanted_alphas = {format_alpha(a) for a in as_tuple(alpha) or ()}
    wanted_seeds = set(as_tuple(seeds) or ())
    selected = []
    for run in find_runs(runs_root):
        keys = run.identity
        if dataset is not None and keys["dataset"] != dataset:
            continue
        if arch is not None and keys["arch"] != arch:
            continue
        if wanted_alphas and format_alpha(keys["alpha"]) not in wanted_alphas:
            continue
        if wanted_seeds and keys["seed"] not in wanted_seeds:
            continue
        selected.append(run)
    tables = _tables(selected)
    return tables.layers if layers else tables.runs


def load_sweep(
    dataset: str,
    arch: str | None = None,
    alpha: float | Sequence[float] | None = None,
    seeds: int | Sequence[int] | None = None,
    smoke: bool = False,
    runs_root: str | Path | None = None,
    data_root: str | Path | None = None,
    **overrides: Any,
) -> SweepResults:
    """The runs of one sweep, as :class:`SweepResults`; raises if any is not trained yet, naming
    the command that trains them (with ``data_root``, the data folder they train on).

    ``alpha`` / ``seeds`` of ``None`` mean the preset's grid; a single number selects one value.
    ``max_eval_samples`` (an override) evaluates on the first N test images: a run trained with
    other settings alike and validated on more images serves (:func:`trained_run`), and the
    ``source`` column holds each run evaluated on N images
    (:func:`selrob.store.sources.first_test_images`). ``test_accuracy`` and ``mean_selectivity``
    stay what training measured, on the run's own first ``max_eval_samples`` test images (column
    of that name; None: all).
    """
    configs = sweep_configs(dataset, arch, alpha, seeds, smoke, **overrides)
    found = [trained_run(c, runs_root) for c in configs]
    missing = [c for c, run in zip(configs, found) if run is None]
    if missing:
        alphas = sorted({c.alpha for c in missing})
        seed_list = sorted({c.seed for c in missing})
        command = (
            f"selrob sweep --dataset {dataset} --arch {configs[0].arch} "
            f"--alpha {' '.join(f'{a:g}' for a in alphas)} --seeds {' '.join(map(str, seed_list))}"
            + (" --smoke" if smoke else "") + override_flags(overrides)
            + ("" if runs_root is None else f" --runs-dir {paths.runs_dir(runs_root)}")
            + ("" if data_root is None else f" --data-dir {paths.data_dir(data_root)}")
        )
        raise SelrobError(f"{len(missing)} of {len(configs)} runs are not trained yet; train them with: {command}")
    runs = [run for run in found if run is not None]
    tables = _tables(runs)
    count = overrides.get("max_eval_samples")
    if count is not None:
        tables.runs["source"] = [first_test_images(run, count) for run in runs]
    return tables


def trained_run(config: TrainConfig, runs_root: str | Path | None = None) -> Run | None:
    """The finished run of ``config``; else, when ``config`` limits ``max_eval_samples`` to N, a
    finished one whose settings differ only in being validated and tested on more images (all, or
    the most); ``None`` if there is neither."""
    exact = Run.for_config(config, runs_root)
    if exact.is_finished() or config.max_eval_samples is None:
        return exact if exact.is_finished() else None
    protocols = exact.path.parents[2]  # <runs>/<dataset>/<arch>: one folder per protocol
    alike = [run for run in (Run(summary.parent) for summary in
                             protocols.glob(f"protocol-*/{exact.path.parent.name}/{exact.path.name}/summary.json"))
             if dataclasses.replace(run.config(), max_eval_samples=config.max_eval_samples) == config
             and (run.eval_samples is None or run.eval_samples > config.max_eval_samples)]
    return max(alike, key=lambda run: math.inf if run.eval_samples is None else run.eval_samples, default=None)


def load_pgd_training(
    dataset: str,
    arch: str | None = None,
    steps: int | Sequence[int] | None = None,
    seeds: int | Sequence[int] | None = None,
    smoke: bool = False,
    runs_root: str | Path | None = None,
    **overrides: Any,
) -> SweepResults:
    """The PGD-training sweep (appendix A.7) with a ``pgd_steps`` column in both tables: the
    alpha 0 runs of the same seeds as step 0, then each PGD-trained step count, all trained with
    ``overrides`` (as :func:`load_sweep`). Raises, naming the command, if any run is missing."""
    if "pgd_steps" in overrides:
        raise SelrobError("the PGD-training sweep sets pgd_steps itself (step 0: standard training); choose the step "
                          "counts with steps (notebook 07: pgd_training_steps), not a training override")
    grid_steps, grid_seeds = pgd_training_grid(dataset, smoke)
    seeds = as_tuple(seeds) or grid_seeds
    parts = [(0, load_sweep(dataset, arch, 0.0, seeds, smoke, runs_root, **overrides))]
    parts += [(int(k), load_sweep(dataset, arch, 0.0, seeds, smoke, runs_root, **{**overrides, "pgd_steps": int(k)}))
              for k in as_tuple(steps) or grid_steps]
    return SweepResults(
        pd.concat([part.runs.assign(pgd_steps=k) for k, part in parts], ignore_index=True),
        pd.concat([part.layers.assign(pgd_steps=k) for k, part in parts], ignore_index=True),
    )


def trained_on(runs: pd.DataFrame) -> str:
    """The devices and torch versions the runs of a runs table were trained with (from their summaries)."""
    summaries = [Run(Path(folder)).summary() for folder in runs["run_dir"]]
    return "; ".join(sorted({f"{s['device']} with torch {s['torch_version'].split('+')[0]}" for s in summaries}))


def _variant(runs: Any) -> str:
    """How one protocol's runs were trained, beyond the preset."""
    if "augmix" in runs and runs["augmix"].fillna(False).astype(bool).any():
        return " with AugMix"
    if "pgd_steps" in runs and runs["pgd_steps"].notna().any():
        return f" with PGD training ({int(runs['pgd_steps'].iloc[0])} steps)"
    if "adversarial_steps" in runs and runs["adversarial_steps"].notna().any():
        return (f" robust: L2 adversarial training ({int(runs['adversarial_steps'].iloc[0])} steps, epsilon "
                f"{runs['adversarial_epsilon'].iloc[0]:g})")
    return ""


def results_report(runs_dir: str | Path | None = None, dataset: str | None = None, arch: str | None = None) -> str:
    """Mean test accuracy and selectivity per alpha with 95% CIs, one block per protocol."""
    from selrob.stats import summarize

    frame = load_results(runs_dir, dataset=dataset, arch=arch)
    if frame.empty:
        from selrob import paths

        return (f"no finished runs in {paths.runs_dir(runs_dir)}; train them with `selrob reproduce` (every study) "
                "or `selrob sweep`")
    lines = []
    for (name, model, protocol), part in frame.groupby(["dataset", "arch", "protocol"]):
        lines.append(f"{name} / {model}{_variant(part)} (protocol {protocol}, {len(part)} runs)")
        table = summarize(part, "alpha", ["test_accuracy", "mean_selectivity"])
        lines.append(f"  {'alpha':>6} {'n':>3} {'test accuracy [95% CI]':>28} {'mean selectivity [95% CI]':>30}")
        for _, row in table.iterrows():
            lines.append(
                f"  {row['alpha']:>6g} {int(row['n']):>3}"
                f" {row['test_accuracy']:>8.4f} [{row['test_accuracy_ci_low']:.4f}, {row['test_accuracy_ci_high']:.4f}]"
                f" {row['mean_selectivity']:>10.4f} [{row['mean_selectivity_ci_low']:.4f}, {row['mean_selectivity_ci_high']:.4f}]")
    return "\n".join(lines)
