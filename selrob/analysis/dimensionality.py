"""Representational dimensionality of a trained run (section 4.4, appendix A.1.4, A.9; Figure 4,
A20-A22), cached in its run folder.

Per ReLU layer, the activation matrix (test images x units, units spatially averaged) is
measured on the clean test set; "difference matrices" (perturbed minus clean activations of the
same images) are measured for every corruption and severity of a -C set and for PGD
(``settings.pgd_steps``, 40 in the paper). Two measures, each divided by the layer's units:
linear (PCA components for each variance threshold, :mod:`selrob.analysis.pca_dimensionality`)
and intrinsic (TwoNN, :mod:`selrob.analysis.intrinsic_dimension`).

Cache files: ``dimensionality-clean-<key>.json``, ``dimensionality-pgd-<key>.json`` and
``dimensionality-<source>-<set fingerprint>-<key>.json``; the last is rewritten after each
corruption, so an interrupted evaluation resumes. The PGD pass also fills the run's PGD accuracy
cache (:func:`selrob.analysis.worst_case.evaluate_pgd`) and the corruption pass its corruption
accuracy cache (:func:`selrob.analysis.corruption_robustness.evaluate_corruptions`), since they
see the same model outputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from selrob.analysis.cache import cached_result, params_key
from selrob.analysis.corruption_robustness import store_corruption_accuracy
from selrob.analysis.intrinsic_dimension import two_nn_dimension
from selrob.analysis.pca_dimensionality import DEFAULT_THRESHOLDS, pca_dimensionality
from selrob.analysis.units import UnitRecorder
from selrob.attacks import AttackSettings, attack_accuracy
from selrob.attacks.common import eval_mode
from selrob.data.base import ImageSet
from selrob.data.batches import iterate_batches, to_unit_float
from selrob.data.corrupted import SEVERITY_LEVELS, CorruptedSet
from selrob.device import resolve_device
from selrob.errors import SelrobError
from selrob.io import read_json, write_json
from selrob.runs import Run

#: One entry per layer: ``{"units": U, "pca": [fraction per threshold], "twonn": fraction}``.
LayerDimensions = list[dict[str, Any]]
BATCH_SIZE = 500


@dataclass(frozen=True)
class DimensionalitySettings:
    """What a dimensionality result depends on besides the run and the perturbation."""

    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS
    twonn_fit_fraction: float = 0.9

    def __post_init__(self) -> None:
        if not self.thresholds or not all(0 < t < 1 for t in self.thresholds):
            raise SelrobError(f"variance thresholds lie strictly between 0 and 1, got {list(self.thresholds)}")
        if not 0 < self.twonn_fit_fraction < 1:
            raise SelrobError(f"the TwoNN fit fraction lies strictly between 0 and 1, got {self.twonn_fit_fraction}")

    def params(self) -> dict[str, Any]:
        return {**asdict(self), "thresholds": list(self.thresholds), "measure": "pca+twonn of spatially averaged ReLU units"}


def layer_activations(model: torch.nn.Module, batches: Iterable[torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Every ReLU layer's activation matrix (samples x units, float32) of ``batches`` of [0, 1]
    images, in eval mode, and the logits of the same pass."""
    parts: list[list[torch.Tensor]] = []
    logits: list[torch.Tensor] = []
    with eval_mode(model), torch.no_grad(), UnitRecorder(model) as recorder:
        for images in batches:
            logits.append(model(images))
            parts.append([a.float() for a in recorder.activations])
    return [torch.cat(layer) for layer in zip(*parts)], torch.cat(logits)


def image_batches(data: ImageSet, batch_size: int = BATCH_SIZE) -> Iterable[torch.Tensor]:
    """[0, 1] float batches of a uint8 image set, in order."""
    return (to_unit_float(images) for images, _ in iterate_batches(data, batch_size))


def measure_layers(matrices: Sequence[torch.Tensor], settings: DimensionalitySettings) -> LayerDimensions:
    """Linear and intrinsic dimensionality of each matrix as fractions of its units. TwoNN is
    NaN where fewer than two points are distinct enough to fit (e.g. an unchanged layer)."""
    return [
        {"units": int(m.shape[1]), "pca": pca_dimensionality(m, settings.thresholds),
         "twonn": two_nn_dimension(m, settings.twonn_fit_fraction, m.device) / m.shape[1]}
        for m in matrices
    ]


def difference_dimensionality(clean: Sequence[torch.Tensor], perturbed: Sequence[torch.Tensor],
                              settings: DimensionalitySettings) -> LayerDimensions:
    """Dimensionality of the difference matrices ``perturbed - clean``, layer by layer."""
    return measure_layers([p - c for c, p in zip(clean, perturbed)], settings)


def _clean_activations(run: Run, data_root: str | Path | None, device: torch.device) -> tuple[torch.nn.Module, ImageSet, list[torch.Tensor]]:
    model = run.load_model(device)
    clean = run.test_set(data_root).to(device)
    return model, clean, layer_activations(model, image_batches(clean))[0]


def evaluate_clean_dimensionality(run: Run, settings: DimensionalitySettings = DimensionalitySettings(),
                                  data_root: str | Path | None = None,
                                  device: str | torch.device | None = None) -> LayerDimensions:
    """Figure 4a / A20a / A21a,d,g / A22a,d: dimensionality of the clean test activations."""

    def compute() -> LayerDimensions:
        _, _, clean = _clean_activations(run, data_root, resolve_device(device))
        return measure_layers(clean, settings)

    return cached_result(run.evaluations_dir, "dimensionality-clean", settings.params(), compute)


def evaluate_pgd_dimensionality(run: Run, attack: AttackSettings,
                                settings: DimensionalitySettings = DimensionalitySettings(),
                                data_root: str | Path | None = None, device: str | torch.device | None = None,
                                batch_size: int = BATCH_SIZE, amp: bool = False) -> LayerDimensions:
    """Figure 4c / A21c,f,i / A22c,f: dimensionality of PGD's difference matrices, the examples
    after ``attack.pgd_steps`` steps. Fills the run's PGD accuracy cache from the same pass."""
    from selrob.analysis.worst_case import pgd_cache_params, pgd_generator, settings_pgd

    params = {**settings.params(), "pgd": pgd_cache_params(attack, amp)}

    def compute() -> LayerDimensions:
        model, clean, clean_acts = _clean_activations(run, data_root, resolve_device(device))
        generator = pgd_generator(run.config().seed)
        adversarial: list[torch.Tensor] = []

        def correct(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            result = settings_pgd(model, images, labels, attack, generator, amp)
            adversarial.append(result.adversarial)
            return result.correct

        # The same accumulation as evaluate_pgd, so the curve it caches is the one it would compute.
        curve = attack_accuracy(clean, correct, batch_size).tolist()
        cached_result(run.evaluations_dir, "pgd", pgd_cache_params(attack, amp), lambda: curve)
        return difference_dimensionality(clean_acts, layer_activations(model, adversarial)[0], settings)

    return cached_result(run.evaluations_dir, "dimensionality-pgd", params, compute)


def corruption_dimensionality_path(run: Run, corrupted: CorruptedSet, settings: DimensionalitySettings) -> Path:
    """Where ``run``'s dimensionality of ``corrupted``'s difference matrices is cached."""
    return run.evaluations_dir / f"dimensionality-{corrupted.source}-{corrupted.fingerprint}-{params_key(settings.params())}.json"


def evaluate_corruption_dimensionality(
    run: Run,
    corrupted: CorruptedSet,
    settings: DimensionalitySettings = DimensionalitySettings(),
    data_root: str | Path | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> dict[str, dict[int, LayerDimensions]]:
    """Figure 4b / A21b,e,h / A22b,e: ``{corruption: {severity: per-layer dimensionality}}`` of
    the difference matrices of every cell of ``corrupted`` (the same images as the clean test
    set, in its order; smoke runs use the first ``max_eval_samples``)."""
    path = corruption_dimensionality_path(run, corrupted, settings)
    stored = read_json(path)["cells"] if path.is_file() else {}
    cells = {name: {int(s): layers for s, layers in by_severity.items()} for name, by_severity in stored.items()}
    todo = [name for name in corrupted.corruptions() if set(cells.get(name, {})) != set(SEVERITY_LEVELS)]
    if todo:
        model, clean, clean_acts = _clean_activations(run, data_root, resolve_device(device))
        for name in tqdm(todo, desc=f"dimensionality {run.identity}", unit="corruption", disable=not progress, leave=False):
            cells[name], accuracy = {}, {}
            for severity in SEVERITY_LEVELS:
                cell = corrupted.load(name, severity).head(len(clean)).to(clean.labels.device)
                if not torch.equal(cell.labels, clean.labels):
                    raise SelrobError(f"{corrupted.path} {name} severity {severity} is not the clean test set in its "
                                      "order; difference matrices need matching images")
                activations, logits = layer_activations(model, image_batches(cell))
                cells[name][severity] = difference_dimensionality(clean_acts, activations, settings)
                accuracy[severity] = int((logits.argmax(dim=1) == cell.labels).sum()) / max(len(cell), 1)
            write_json(path, {"params": settings.params(), "set": str(corrupted.path),
                              "cells": {n: {str(s): v for s, v in c.items()} for n, c in cells.items()}}, compact=True)
            # The same images as evaluate_corruptions, so its pass over them is not needed.
            store_corruption_accuracy(run, corrupted, {name: accuracy})
    return {name: cells[name] for name in corrupted.corruptions()}
