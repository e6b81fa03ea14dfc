"""The results table: finished runs as tidy pandas DataFrames, for notebooks and the CLI.

* :func:`load_results` - every finished run under the runs folder, optionally filtered.
* :func:`load_sweep` - exactly the runs of one sweep (the preset grid, or a chosen alpha/seeds),
  with a clear error naming the command that trains any that are missing. Plots never train.
* :func:`load_corruption_results` - those runs' accuracy per (corruption, severity) of a -C set,
  evaluated once and cached in each run folder; :func:`corruption_means` - per-run means.
* :func:`load_fgsm_results`, :func:`load_pgd_results`, :func:`load_jacobian_results`,
  :func:`load_gradient_masking_results` - worst-case robustness (Figure 2, A12-A14), cached alike;
  :func:`load_natural_adversarial_results` - ImageNet-A (Figure A15).
* :func:`load_pgd_training`, :func:`selectivity_with_dead_units` - PGD training (Figure A16).
* :func:`load_dimensionality_results`, :func:`mean_over_corruptions` - PCA and TwoNN dimensionality
  (Figure 4, A20-A22); :func:`load_unit_gradient_results` - input-unit gradients (Figure 3, A17-A19).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from selrob.errors import SelrobError
from selrob.runs import Run, find_runs, format_alpha
from selrob.sweep import as_tuple, sweep_configs

if TYPE_CHECKING:
    from selrob.analysis.dimensionality import DimensionalitySettings
    from selrob.attacks import AttackSettings

RUN_COLUMNS = ["dataset", "arch", "alpha", "seed", "test_accuracy", "mean_selectivity", "val_accuracy", "best_epoch"]
CORRUPTION_COLUMNS = ["dataset", "arch", "protocol", "alpha", "seed", "corruption", "severity",
                      "accuracy", "clean_accuracy", "normalized_accuracy"]
RUN_KEYS = ["dataset", "arch", "protocol", "alpha", "seed"]
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
        parts = run.path.parts
        run_dataset, run_arch = parts[-5], parts[-4]
        run_alpha, run_seed = parts[-2].removeprefix("alpha_"), int(parts[-1].removeprefix("seed_"))
        if dataset is not None and run_dataset != dataset:
            continue
        if arch is not None and run_arch != arch:
            continue
        if wanted_alphas and run_alpha not in wanted_alphas:
            continue
        if wanted_seeds and run_seed not in wanted_seeds:
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
    **overrides: Any,
) -> SweepResults:
    """The runs of one sweep, as :class:`SweepResults`; raises if any is not trained yet.

    ``alpha`` / ``seeds`` of ``None`` mean the preset's grid; a single number selects one value.
    """
    configs = sweep_configs(dataset, arch, alpha, seeds, smoke, **overrides)
    runs = [Run.for_config(c, runs_root) for c in configs]
    missing = [c for c, run in zip(configs, runs) if not run.is_finished()]
    if missing:
        alphas = sorted({c.alpha for c in missing})
        seed_list = sorted({c.seed for c in missing})
        command = (
            f"selrob sweep --dataset {dataset} --arch {configs[0].arch} "
            f"--alpha {' '.join(f'{a:g}' for a in alphas)} --seeds {' '.join(map(str, seed_list))}"
            + (" --smoke" if smoke else "")
            + "".join(f" --{k.replace('_', '-')}" + ("" if v is True else f" {v}")
                      for k, v in overrides.items() if v is not None and v is not False)
        )
        raise SelrobError(f"{len(missing)} of {len(configs)} runs are not trained yet; train them with: {command}")
    return _tables(runs)


def single_dataset(runs: pd.DataFrame) -> str:
    """The one dataset of a results table; tables mixing datasets are an error."""
    datasets = runs["dataset"].unique()
    if len(datasets) != 1:
        raise SelrobError(f"runs of one dataset at a time, got {', '.join(map(str, datasets))}")
    return str(datasets[0])


def load_corruption_results(
    runs: pd.DataFrame,
    source: str = "generated",
    corruptions: Sequence[str] | None = None,
    data_root: str | Path | None = None,
    evaluate: bool = True,
    device: str | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """One row per (run, corruption, severity) for the runs of a results table (e.g.
    ``load_sweep(...).runs``), with ``CORRUPTION_COLUMNS``.

    ``accuracy`` is top-1 accuracy on the cell, ``clean_accuracy`` the run's clean test accuracy
    and ``normalized_accuracy`` their ratio (Figure A3a). Cells not cached yet are evaluated when
    ``evaluate`` is true, else they are an error naming the command that evaluates them.
    """
    from selrob.analysis.corruption_robustness import cached_corruption_accuracy, evaluate_corruptions
    from selrob.data.corrupted import CorruptedSet

    if runs.empty:
        return pd.DataFrame(columns=CORRUPTION_COLUMNS)
    corrupted = CorruptedSet(single_dataset(runs), source, data_root)
    chosen = list(corruptions) if corruptions is not None else corrupted.corruptions()
    rows: list[dict[str, Any]] = []
    for run_row in runs.to_dict("records"):
        run = Run(Path(run_row["run_dir"]))
        if evaluate:
            cells = evaluate_corruptions(run, corrupted, chosen, device, progress=progress)
        else:
            cells = cached_corruption_accuracy(run, corrupted)
            if any(len(cells.get(name, {})) < 5 for name in chosen):
                raise SelrobError(f"{run.path} is not evaluated on {corrupted.path} yet; "
                                  f"run `selrob evaluate-c --dataset {corrupted.dataset} --source {source}`")
        clean = float(run_row["test_accuracy"])
        for name in chosen:
            for severity, accuracy in sorted(cells[name].items()):
                rows.append({**{key: run_row[key] for key in RUN_KEYS}, "corruption": name, "severity": severity,
                             "accuracy": accuracy, "clean_accuracy": clean,
                             "normalized_accuracy": accuracy / clean if clean > 0 else float("nan")})
    return pd.DataFrame(rows, columns=CORRUPTION_COLUMNS)


def corruption_means(table: pd.DataFrame) -> pd.DataFrame:
    """Per run: ``mean_corrupted_accuracy`` and ``mean_normalized_accuracy`` over all cells of
    ``table`` (RobustBench's mean; AugMix's mean of per-corruption means is the same number when
    every cell has as many images), plus ``clean_accuracy``."""
    grouped = table.groupby(RUN_KEYS, as_index=False)
    return grouped.agg(
        mean_corrupted_accuracy=("accuracy", "mean"),
        mean_normalized_accuracy=("normalized_accuracy", "mean"),
        clean_accuracy=("clean_accuracy", "first"),
    )


def label_models(runs: pd.DataFrame, augmix: pd.DataFrame) -> pd.DataFrame:
    """Runs of an alpha grid and AugMix runs in one table with a ``model`` column: the alpha as
    text (``-0.4``) or ``AugMix`` (Figure A11's x axis)."""
    return pd.concat([runs.assign(model=runs["alpha"].map(lambda a: f"{a:g}")), augmix.assign(model="AugMix")],
                     ignore_index=True)


FGSM_COLUMNS = [*RUN_KEYS, "epsilon", "accuracy"]
PGD_COLUMNS = [*RUN_KEYS, "step", "accuracy"]
JACOBIAN_COLUMNS = [*RUN_KEYS, "jacobian_norm", "jacobian_norm_std"]
MASKING_COLUMNS = [*RUN_KEYS, "source_seed", "relation", "step", "accuracy"]


def _runs_of(runs: pd.DataFrame, desc: str, progress: bool) -> Iterator[tuple[dict[str, Any], Run]]:
    from tqdm.auto import tqdm

    for row in tqdm(runs.to_dict("records"), desc=desc, unit="run", disable=not progress, leave=False):
        yield {key: row[key] for key in RUN_KEYS}, Run(Path(row["run_dir"]))


def _settings(runs: pd.DataFrame, settings: AttackSettings | None) -> AttackSettings:
    from selrob.attacks import attack_settings

    return settings if settings is not None else attack_settings(single_dataset(runs))


def load_fgsm_results(runs: pd.DataFrame, settings: AttackSettings | None = None, data_root: str | Path | None = None,
                      device: str | None = None, progress: bool = True) -> pd.DataFrame:
    """One row per (run, epsilon): accuracy under FGSM (``FGSM_COLUMNS``); ``settings`` default to
    the dataset's preset (:mod:`selrob.attacks.settings`). Evaluated once, then read from cache."""
    from selrob.analysis.worst_case import evaluate_fgsm

    if runs.empty:
        return pd.DataFrame(columns=FGSM_COLUMNS)
    settings = _settings(runs, settings)
    rows = [{**keys, "epsilon": eps, "accuracy": acc}
            for keys, run in _runs_of(runs, "FGSM", progress)
            for eps, acc in zip(settings.fgsm_epsilons, evaluate_fgsm(run, settings, data_root, device))]
    return pd.DataFrame(rows, columns=FGSM_COLUMNS)


def load_pgd_results(runs: pd.DataFrame, settings: AttackSettings | None = None, data_root: str | Path | None = None,
                     device: str | None = None, progress: bool = True) -> pd.DataFrame:
    """One row per (run, PGD step 0..steps): accuracy after that many steps (``PGD_COLUMNS``)."""
    from selrob.analysis.worst_case import evaluate_pgd

    if runs.empty:
        return pd.DataFrame(columns=PGD_COLUMNS)
    settings = _settings(runs, settings)
    rows = [{**keys, "step": step, "accuracy": acc}
            for keys, run in _runs_of(runs, "PGD", progress)
            for step, acc in enumerate(evaluate_pgd(run, settings, data_root, device))]
    return pd.DataFrame(rows, columns=PGD_COLUMNS)


def load_jacobian_results(runs: pd.DataFrame, data_root: str | Path | None = None, device: str | None = None,
                          progress: bool = True) -> pd.DataFrame:
    """One row per run: mean (and std over samples) of the input-output Jacobian norm."""
    from selrob.analysis.worst_case import evaluate_jacobian

    rows = []
    for keys, run in _runs_of(runs, "Jacobian", progress):
        result = evaluate_jacobian(run, data_root, device)
        rows.append({**keys, "jacobian_norm": result["mean"], "jacobian_norm_std": result["std"]})
    return pd.DataFrame(rows, columns=JACOBIAN_COLUMNS)


def load_gradient_masking_results(runs: pd.DataFrame, sources: pd.DataFrame, settings: AttackSettings | None = None,
                                  data_root: str | Path | None = None, device: str | None = None,
                                  progress: bool = True) -> pd.DataFrame:
    """Figure A14: one row per (target run, source, PGD step) with the target's accuracy on the
    source's adversarial examples (``MASKING_COLUMNS``). ``sources`` are the alpha = 0 runs; the
    pairing rule is in :mod:`selrob.analysis.gradient_masking`."""
    from selrob.analysis.gradient_masking import evaluate_gradient_masking, masking_pairings

    if runs.empty:
        return pd.DataFrame(columns=MASKING_COLUMNS)
    settings = _settings(runs, settings)
    keys_of = {run: keys for keys, run in _runs_of(runs, "runs", False)}
    pairings = masking_pairings(list(keys_of), [run for _, run in _runs_of(sources, "sources", False)])
    curves = evaluate_gradient_masking(pairings, settings, data_root, device, progress=progress)
    rows = [{**keys_of[pairing.target], "source_seed": pairing.source.config().seed, "relation": pairing.relation,
             "step": step, "accuracy": acc}
            for pairing, curve in zip(pairings, curves) for step, acc in enumerate(curve)]
    return pd.DataFrame(rows, columns=MASKING_COLUMNS)


def load_pgd_training(
    dataset: str,
    arch: str | None = None,
    steps: int | Sequence[int] | None = None,
    seeds: int | Sequence[int] | None = None,
    smoke: bool = False,
    runs_root: str | Path | None = None,
) -> SweepResults:
    """The PGD-training sweep (appendix A.7) with a ``pgd_steps`` column in both tables: the
    alpha 0 runs of the same seeds as step 0, then each PGD-trained step count. Raises, naming
    the command, if any run is missing."""
    from selrob.config import pgd_training_grid

    grid_steps, grid_seeds = pgd_training_grid(dataset, smoke)
    seeds = as_tuple(seeds) or grid_seeds
    parts = [(0, load_sweep(dataset, arch, 0.0, seeds, smoke, runs_root))]
    parts += [(int(k), load_sweep(dataset, arch, 0.0, seeds, smoke, runs_root, pgd_steps=int(k)))
              for k in as_tuple(steps) or grid_steps]
    return SweepResults(
        pd.concat([part.runs.assign(pgd_steps=k) for k, part in parts], ignore_index=True),
        pd.concat([part.layers.assign(pgd_steps=k) for k, part in parts], ignore_index=True),
    )


def selectivity_with_dead_units(layers: pd.DataFrame, by: Sequence[str] = ("pgd_steps",)) -> pd.DataFrame:
    """Figure A16 per run: ``mean_selectivity`` (Eq. 3, dead units count as SI 0),
    ``dead_fraction`` (dead units / units) and ``mean_selectivity_alive`` (Eq. 3 over the units
    that are not dead; a layer with no live unit is left out). ``by`` are extra columns kept."""
    alive = layers["units"] - layers["dead_units"]
    per_layer = layers.assign(
        alive_selectivity=(layers["selectivity"] * layers["units"] / alive).where(alive > 0),
    )
    keys = [*RUN_KEYS, *by]
    return per_layer.groupby(keys, as_index=False).agg(
        mean_selectivity=("selectivity", "mean"),
        mean_selectivity_alive=("alive_selectivity", "mean"),
        dead_units=("dead_units", "sum"),
        units=("units", "sum"),
    ).assign(dead_fraction=lambda frame: frame["dead_units"] / frame["units"])


NATURAL_COLUMNS = [*RUN_KEYS, "accuracy", "chance"]


def load_natural_adversarial_results(runs: pd.DataFrame, data_root: str | Path | None = None,
                                     device: str | None = None, progress: bool = True) -> pd.DataFrame:
    """Figure A15: one row per Tiny ImageNet run with its accuracy on ImageNet-A's shared classes
    (``NATURAL_COLUMNS``; ``chance`` is 1 / shared classes). Needs both datasets downloaded."""
    from selrob import paths
    from selrob.analysis.natural_adversarial import evaluate_natural_adversarial
    from selrob.data.imagenet_a import load_natural_adversarial

    if runs.empty:
        return pd.DataFrame(columns=NATURAL_COLUMNS)
    if single_dataset(runs) != "tinyimagenet":
        raise SelrobError("ImageNet-A shares classes with Tiny ImageNet only; use tinyimagenet runs")
    natural = load_natural_adversarial(paths.data_dir(data_root), progress)
    chance = 1 / len(natural.class_indices)
    rows = [{**keys, "accuracy": evaluate_natural_adversarial(run, natural, device), "chance": chance}
            for keys, run in _runs_of(runs, "ImageNet-A", progress)]
    return pd.DataFrame(rows, columns=NATURAL_COLUMNS)


DIMENSIONALITY_COLUMNS = [*RUN_KEYS, "perturbation", "corruption", "severity", "layer", "units", "measure",
                          "threshold", "dimensionality"]
PERTURBATIONS = ("clean", "corruptions", "pgd")


def _dimensionality_rows(keys: dict[str, Any], perturbation: str, corruption: str | None, severity: int | None,
                         layers: list[dict[str, Any]], thresholds: Sequence[float]) -> Iterator[dict[str, Any]]:
    cell = {**keys, "perturbation": perturbation, "corruption": corruption, "severity": severity}
    for index, layer in enumerate(layers):
        for threshold, value in zip(thresholds, layer["pca"]):
            yield {**cell, "layer": index, "units": layer["units"], "measure": "pca", "threshold": threshold,
                   "dimensionality": value}
        yield {**cell, "layer": index, "units": layer["units"], "measure": "twonn", "threshold": float("nan"),
               "dimensionality": layer["twonn"]}


def load_dimensionality_results(runs: pd.DataFrame, perturbations: Sequence[str] = PERTURBATIONS,
                                settings: DimensionalitySettings | None = None, attack: AttackSettings | None = None,
                                source: str = "generated", data_root: str | Path | None = None,
                                device: str | None = None, progress: bool = True) -> pd.DataFrame:
    """Figure 4, A20-A22: one row per (run, perturbation, corruption cell, layer, measure,
    threshold) with the fraction of the layer's units (``DIMENSIONALITY_COLUMNS``).

    ``perturbation`` is ``clean`` (activation matrices), ``corruptions`` (difference matrices of
    every cell of the ``source`` -C set) or ``pgd`` (difference matrices of PGD with ``attack``,
    the dataset's preset by default). ``measure`` is ``pca`` (one row per variance threshold of
    ``settings``, a :class:`~selrob.analysis.dimensionality.DimensionalitySettings`) or
    ``twonn``. Computed once per run, then read from its cache."""
    from selrob.analysis.dimensionality import (
        DimensionalitySettings,
        evaluate_clean_dimensionality,
        evaluate_corruption_dimensionality,
        evaluate_pgd_dimensionality,
    )
    from selrob.data.corrupted import CorruptedSet

    unknown = [p for p in perturbations if p not in PERTURBATIONS]
    if unknown:
        raise SelrobError(f"unknown perturbation {unknown[0]!r}; choose from {', '.join(PERTURBATIONS)}")
    if runs.empty:
        return pd.DataFrame(columns=DIMENSIONALITY_COLUMNS)
    settings = settings if settings is not None else DimensionalitySettings()
    corrupted = CorruptedSet(single_dataset(runs), source, data_root) if "corruptions" in perturbations else None
    rows: list[dict[str, Any]] = []
    for keys, run in _runs_of(runs, "dimensionality", progress):
        if "clean" in perturbations:
            rows += _dimensionality_rows(keys, "clean", None, None,
                                         evaluate_clean_dimensionality(run, settings, data_root, device), settings.thresholds)
        if corrupted is not None:
            cells = evaluate_corruption_dimensionality(run, corrupted, settings, data_root, device)
            for name, by_severity in cells.items():
                for severity, layers in sorted(by_severity.items()):
                    rows += _dimensionality_rows(keys, "corruptions", name, severity, layers, settings.thresholds)
        if "pgd" in perturbations:
            layers = evaluate_pgd_dimensionality(run, _settings(runs, attack), settings, data_root, device)
            rows += _dimensionality_rows(keys, "pgd", None, None, layers, settings.thresholds)
    return pd.DataFrame(rows, columns=DIMENSIONALITY_COLUMNS)


def mean_over_corruptions(table: pd.DataFrame) -> pd.DataFrame:
    """Dimensionality rows with the corruption cells of each (run, layer, measure, threshold)
    averaged into one (Figure 4b plots that mean); other perturbations pass through. NaN TwoNN
    values (an unchanged layer) are left out of the mean."""
    keys = [*RUN_KEYS, "perturbation", "layer", "units", "measure", "threshold"]
    corrupted = table[table["perturbation"] == "corruptions"]
    means = corrupted.groupby(keys, as_index=False, dropna=False)["dimensionality"].mean()
    return pd.concat([table[table["perturbation"] != "corruptions"].drop(columns=["corruption", "severity"]), means],
                     ignore_index=True)[keys + ["dimensionality"]]


UNIT_GRADIENT_COLUMNS = [*RUN_KEYS, "layer", "units", "mu_l", "sigma_l", "cv_l", "mean_sigma_u", "mean_cv_u",
                         "dead_units"]


def load_unit_gradient_results(runs: pd.DataFrame, samples: int | None = None, data_root: str | Path | None = None,
                               device: str | None = None, progress: bool = True) -> pd.DataFrame:
    """Figure 3, A17-A19: one row per (run, layer) with the input-unit gradient statistics of
    :mod:`selrob.analysis.unit_gradients` (``UNIT_GRADIENT_COLUMNS``): ``mu_l`` mean gradient,
    ``sigma_l`` / ``cv_l`` across units, ``mean_sigma_u`` / ``mean_cv_u`` within units (means over
    the layer's units), on the first ``samples`` test images (all by default)."""
    from selrob.analysis.stability import evaluate_unit_gradients

    rows = [{**keys, "layer": index, **{c: layer[c] for c in UNIT_GRADIENT_COLUMNS[len(RUN_KEYS) + 1:]}}
            for keys, run in _runs_of(runs, "unit gradients", progress)
            for index, layer in enumerate(evaluate_unit_gradients(run, samples, data_root, device))]
    return pd.DataFrame(rows, columns=UNIT_GRADIENT_COLUMNS)
