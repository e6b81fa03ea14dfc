"""Tables of the bridge study (:mod:`selrob.studies.bridge`), which joins the two papers: the first
paper's measures on the second paper's standard / robust (S / R) pairs, and the second paper's
measures along the first paper's selectivity axis (an alpha sweep of the pairs' architectures).

Per pair model (rows keyed by ``arch``, ``model``, ``training``, ``seed``, as
:func:`selrob.tables.robust_pairs.load_pairs` gives them): the mean class selectivity index of
each ReLU layer (Eq. 1-3 of the first paper), the early-layer PCA dimensionality of clean
representations and of Gaussian-noise and PGD difference matrices (Figure 4) and the variability of
input-unit gradients (Figure 3). Per sweep run (the same keys, ``model`` = "arch alpha a", with
``alpha``): cue-conflict shape bias (Table 2), accuracy on stylized, contour and silhouette images
of the images every alpha of its architecture and seed classifies right (Table 3's rule, for three
models instead of two), mean kernel total variation (Table 4) and interpretable units per Network
Dissection category (Fig 4a). :func:`alpha_slopes` turns a sweep's per-run values into one slope
per architecture and seed, the replicates the bridge's trend claims average.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from selrob.config import BRIDGE_GRIDS, bridge_sweep_configs
from selrob.errors import SelrobError
from selrob.evaluations.corruptions import CorruptedSetChoice
from selrob.evaluations.dimensionality import DIMENSIONALITY
from selrob.evaluations.registry import EvaluationSettings
from selrob.tables import dissection, smoothness
from selrob.store.sources import ModelSource, first_test_images
from selrob.tables.aggregates import FIGURE_4_THRESHOLD, early_layer_dimensionality, mean_over_corruptions
from selrob.tables.evaluations import source_of
from selrob.tables.robust_pairs import MODEL_KEYS, STANDARD, pair_evaluation, per_run_shape_bias
from selrob.tables.runs import load_sweep

#: One row per model: its keys.
PER_MODEL = [*MODEL_KEYS, "seed"]
#: The corruption whose difference matrices are the "noise" perturbation (severities 1-5 averaged).
NOISE = "gaussian_noise"
#: Figure 4's perturbations as this study names them: the -C set's evaluation measures Gaussian noise.
PERTURBATIONS = {"clean": "clean", "corruptions": "noise", "pgd": "pgd"}
#: The distorted image types whose accuracy the sweep is measured on (Table 3e-g).
DISTORTED = ("stylized", "contour", "silhouette")


#: Test images the first paper's measures read per pair model, by dataset (others: all): the first
#: 200 of the world's 1,000 (the digits study has 360), for the time budget: its 40-step PGD and the
#: unit gradients cost a pass per step and per unit.
PAIR_IMAGES: dict[str, int] = {"shapes": 200}
#: Of those, the images the input-unit gradients are taken on, full and smoke: every unit of every
#: layer costs a backward pass per image (3,072 pixels and up to ~1,000 units per model on the
#: world), and the CVs need a spread over samples, not every image.
UNIT_GRADIENT_SAMPLES = {False: 16, True: 8}


def pair_source(source: ModelSource) -> ModelSource:
    """``source`` evaluated on its dataset's :data:`PAIR_IMAGES` first test images."""
    return first_test_images(source, PAIR_IMAGES.get(source.dataset))


def _measured(runs: pd.DataFrame) -> pd.DataFrame:
    """The pair models' rows with each one's :func:`pair_source` as its ``source``."""
    return runs.assign(source=[pair_source(source_of(row)) for _, row in runs.iterrows()])


def bridge_settings(settings: EvaluationSettings) -> EvaluationSettings:
    """``settings`` with what the bridge's evaluations read: the -C evaluations restricted to
    :data:`NOISE` (the only corruption its dimensionality reads) and the input-unit gradients on
    :data:`UNIT_GRADIENT_SAMPLES` images."""
    given = {"corrupted_set": CorruptedSetChoice(corruptions=(NOISE,)),
             "unit_gradient_samples": UNIT_GRADIENT_SAMPLES[settings.smoke], **settings.given()}
    return EvaluationSettings(smoke=settings.smoke, data_root=settings.data_root, device=settings.device,
                              amp=settings.amp, progress=settings.progress, parameters=given)


def load_alpha_sweep(dataset: str = "shapes", archs: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
                     smoke: bool = False, runs_root: str | Path | None = None) -> pd.DataFrame:
    """The runs of the alpha sweep on ``dataset``: the bridge grid of the embedded world
    (:data:`selrob.config.BRIDGE_GRIDS`), else the dataset's own preset sweep; with ``training``
    "standard" and ``model`` "arch alpha a". Raises, naming the command, when a run is missing."""
    if dataset in BRIDGE_GRIDS:
        configs = bridge_sweep_configs(dataset, smoke)
        by_arch = {arch: sorted({c.alpha for c in configs if c.arch == arch}) for arch in dict.fromkeys(c.arch for c in configs)}
        chosen_seeds = list(seeds) if seeds is not None else sorted({c.seed for c in configs})
    else:
        by_arch = {arch: None for arch in (archs or [None])}
        chosen_seeds = list(seeds) if seeds is not None else None
    unknown = [arch for arch in archs or [] if None not in by_arch and arch not in by_arch]
    if unknown:
        raise SelrobError(f"the alpha sweep of {dataset} has no architecture {', '.join(unknown)}; it has "
                          f"{', '.join(by_arch)}")
    chosen = {arch: alphas for arch, alphas in by_arch.items() if archs is None or arch is None or arch in archs}
    runs = pd.concat([load_sweep(dataset, arch, alphas, chosen_seeds, smoke, runs_root).runs
                      for arch, alphas in chosen.items()], ignore_index=True)
    return runs.assign(training=STANDARD, model=[f"{arch} alpha {alpha:g}" for arch, alpha in zip(runs["arch"], runs["alpha"])])


def _with_alpha(frame: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    return frame.merge(runs[["model", "seed", "alpha"]], on=["model", "seed"])


# --- The first paper's measures, per model of the S / R pairs --------------------------------


def layer_selectivity(runs: pd.DataFrame, settings: EvaluationSettings | None = None,
                      evaluate: bool = True) -> pd.DataFrame:
    """Per model, seed and ReLU layer (``layer``, 0 = first; ``depth`` = layer + 1): the mean class
    selectivity index of its units (Eq. 1 averaged, dead units at 0)."""
    table = pair_evaluation("unit-selectivity", _measured(runs), settings, evaluate)
    per_layer = table.groupby([*PER_MODEL, "layer"], as_index=False, sort=False)["selectivity"].mean()
    return per_layer.assign(depth=per_layer["layer"] + 1)


def per_run_selectivity(layers: pd.DataFrame) -> pd.DataFrame:
    """Per model and seed: mean selectivity over all its layers (``mean``, Eq. 3), over the first
    half (``early``) and the second half (``late``) of its layers."""
    count = layers.groupby(PER_MODEL, sort=False)["layer"].transform("max") + 1
    early = layers["layer"] < count / 2
    parts = {"mean": layers, "early": layers[early], "late": layers[~early]}
    frames = [part.groupby(PER_MODEL, as_index=False, sort=False)["selectivity"].mean().rename(columns={"selectivity": name})
              for name, part in parts.items()]
    result = frames[0]
    for frame in frames[1:]:  # a one-layer model has no late half: its value stays missing, its row stays
        result = result.merge(frame, on=PER_MODEL, how="left")
    return result


def per_run_dimensionality(runs: pd.DataFrame, settings: EvaluationSettings | None = None,
                           evaluate: bool = True) -> pd.DataFrame:
    """Per model, seed and ``perturbation`` (clean, noise, pgd): the early-layer PCA
    dimensionality at 95% variance (Figure 4's measure, :func:`early_layer_dimensionality`)."""
    chosen = bridge_settings(settings or EvaluationSettings())
    table = pd.concat([pair_evaluation(name, _measured(runs), chosen, evaluate) for name in DIMENSIONALITY],
                      ignore_index=True)
    early = early_layer_dimensionality(table, keys=PER_MODEL)
    return early.assign(perturbation=early["perturbation"].map(PERTURBATIONS))


def dimensionality_by_layer(runs: pd.DataFrame, settings: EvaluationSettings | None = None,
                            evaluate: bool = True) -> pd.DataFrame:
    """Per model, seed, perturbation, layer and ``depth`` (layer + 1): the PCA dimensionality at
    95% variance (noise: mean over the severities)."""
    chosen = bridge_settings(settings or EvaluationSettings())
    table = pd.concat([pair_evaluation(name, _measured(runs), chosen, evaluate) for name in DIMENSIONALITY],
                      ignore_index=True)
    table = mean_over_corruptions(table, keys=PER_MODEL)
    pca = table[(table["measure"] == "pca") & ((table["threshold"] - FIGURE_4_THRESHOLD).abs() < 1e-9)]
    return pca.assign(perturbation=pca["perturbation"].map(PERTURBATIONS), depth=pca["layer"] + 1)


def unit_gradients_by_layer(runs: pd.DataFrame, settings: EvaluationSettings | None = None,
                            evaluate: bool = True) -> pd.DataFrame:
    """Per model, seed, layer and ``depth`` (layer + 1): the variability of input-unit gradients
    within units (``mean_cv_u``) and across them (``cv_l``), Figure 3."""
    table = pair_evaluation("unit-gradients", _measured(runs), bridge_settings(settings or EvaluationSettings()),
                            evaluate)
    return table[[*PER_MODEL, "layer", "mean_cv_u", "cv_l"]].assign(depth=table["layer"] + 1)


def per_run_unit_gradients(runs: pd.DataFrame, settings: EvaluationSettings | None = None,
                           evaluate: bool = True) -> pd.DataFrame:
    """Per model and seed: the variability of input-unit gradients within units (``mean_cv_u``)
    and across units (``cv_l``), means over layers (Figure 3)."""
    table = unit_gradients_by_layer(runs, settings, evaluate)
    return table.groupby(PER_MODEL, as_index=False, sort=False)[["mean_cv_u", "cv_l"]].mean()


# --- The second paper's measures, per run of the alpha sweep ---------------------------------


def sweep_shape_bias(runs: pd.DataFrame, settings: EvaluationSettings | None = None,
                     evaluate: bool = True) -> pd.DataFrame:
    """Per run: its cue-conflict shape bias (``shape``) and ``alpha``."""
    return _with_alpha(per_run_shape_bias(runs, settings, evaluate), runs)


def sweep_subset(runs: pd.DataFrame, settings: EvaluationSettings | None = None, evaluate: bool = True) -> pd.DataFrame:
    """Per architecture and seed, the test images every alpha classifies right (``arch``,
    ``seed``, ``image``): the sweep's analogue of a pair's correctly classified subset."""
    table = pair_evaluation("predictions", runs, settings, evaluate)
    correct = table.groupby(["arch", "seed", "image"], as_index=False)["correct"].agg(lambda c: bool(np.all(c.astype(bool))))
    return correct[correct["correct"]][["arch", "seed", "image"]].reset_index(drop=True)


def sweep_distorted_accuracy(runs: pd.DataFrame, settings: EvaluationSettings | None = None,
                             evaluate: bool = True) -> pd.DataFrame:
    """Per run: its accuracy on the stylized, contour and silhouette images (one column each) of
    its architecture and seed's subset (:func:`sweep_subset`), the subset's size, and ``alpha``."""
    table = pair_evaluation("distorted-images", runs, settings, evaluate)
    table = table[table["image_type"].isin(DISTORTED)].merge(sweep_subset(runs, settings, evaluate), on=["arch", "seed", "image"])
    accuracy = table.assign(correct=table["correct"].astype(float)).pivot_table(
        index=PER_MODEL, columns="image_type", values="correct", aggfunc="mean").reset_index()
    accuracy.columns.name = None
    empty = runs[~runs.set_index(PER_MODEL).index.isin(accuracy.set_index(PER_MODEL).index)]
    if not empty.empty:  # no image all alphas classify right: the replicate would drop out of the slopes unseen
        raise SelrobError("no test image is classified right at every alpha by " + ", ".join(
            f"{row.model} seed {row.seed}" for row in empty.itertuples()) + "; their distorted-image accuracy is undefined")
    sizes = table.groupby(PER_MODEL, as_index=False)["image"].nunique().rename(columns={"image": "images"})
    return _with_alpha(accuracy.merge(sizes, on=PER_MODEL), runs)


def sweep_kernel_tv(runs: pd.DataFrame, settings: EvaluationSettings | None = None, evaluate: bool = True) -> pd.DataFrame:
    """Per run: the mean total variation of its conv kernels (``mean_tv``, Table 4) and ``alpha``."""
    return _with_alpha(smoothness.per_run_kernel_tv(runs, settings, evaluate), runs)


def sweep_units(runs: pd.DataFrame, settings: EvaluationSettings | None = None, evaluate: bool = True) -> pd.DataFrame:
    """Per run: its interpretable units per Network Dissection category (one column each) and
    mean unit diversity (Fig 4a, A10), and ``alpha``."""
    units = dissection.unit_table(runs, settings, evaluate)
    return _with_alpha(dissection.per_run_unit_summary(units, dissection.probe_categories(runs, settings)), runs)


def alpha_slopes(per_run: pd.DataFrame, value: str) -> pd.DataFrame:
    """Per architecture and seed (the sweep's replicates): the least-squares slope of ``value``
    against alpha over its runs (``slope``, per unit alpha), and its runs' alphas. Architectures
    differ in level far more than in slope; a slope per replicate keeps that apart."""
    rows = []
    for (arch, seed), part in per_run.groupby(["arch", "seed"], sort=True):
        if part["alpha"].nunique() >= 2:
            x, y = part["alpha"].to_numpy(float), part[value].to_numpy(float)
            # Centred sums: a flat measure (the same unit count at every alpha) has slope 0 exactly.
            slope = float(np.sum((x - x.mean()) * (y - y.mean())) / np.sum((x - x.mean()) ** 2))
            rows.append({"arch": arch, "seed": seed, "alphas": part["alpha"].nunique(), "slope": slope})
    return pd.DataFrame(rows, columns=["arch", "seed", "alphas", "slope"])


__all__ = ["DISTORTED", "NOISE", "PER_MODEL", "alpha_slopes", "dimensionality_by_layer", "layer_selectivity",
           "load_alpha_sweep", "per_run_dimensionality", "per_run_selectivity", "per_run_unit_gradients",
           "bridge_settings", "pair_source", "sweep_distorted_accuracy", "sweep_kernel_tv", "sweep_shape_bias", "sweep_subset",
           "sweep_units", "unit_gradients_by_layer"]
