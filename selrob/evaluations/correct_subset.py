"""The correctly classified subset of a standard / robust pair (the second paper's ImageNet-CL,
section 2): the test images both models classify right. Later evaluations of modified images
count only images in it. Cached in the robust model's folder, keyed by its standard partner.

Pairing: a robust (adversarially trained) source is paired with the standard source of the same
dataset, architecture and seed; on ImageNet that is the zoo's pair of an architecture (both
robust ResNet-50s pair with torchvision's ResNet-50).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from selrob.errors import SelrobError
from selrob.evaluations.common import entry
from selrob.evaluations.predictions import clean_correct, predictions_entry
from selrob.evaluations.registry import Evaluation, EvaluationContext, Pairing, register
from selrob.store.cache import CacheEntry
from selrob.store.sources import ModelSource

PAIR = "standard / robust"


def _pair_key(source: ModelSource) -> tuple[Any, ...]:
    return source.dataset, source.identity["arch"], source.seed


def robustness_pairings(targets: Sequence[ModelSource], sources: Sequence[ModelSource]) -> list[Pairing]:
    """One pairing (standard source, robust target) per robust model among ``targets``."""
    standard = {_pair_key(source): source for source in sources if not source.adversarially_trained}
    pairings = []
    for target in targets:
        if not target.adversarially_trained:
            continue
        key = _pair_key(target)
        if key not in standard:
            raise SelrobError(f"{target.name} has no standard partner (same dataset, arch and seed) among the sources")
        pairings.append(Pairing(standard[key], target, PAIR))
    return pairings


def subset_entry(pairing: Pairing) -> CacheEntry:
    return entry(pairing.target, "correct-subset",
                 {"standard": pairing.source.name, "predictions": predictions_entry(pairing.target).params})


def evaluate_correct_subset(pairings: Sequence[Pairing], context: EvaluationContext) -> list[dict[str, Any]]:
    """Per pairing, ``{"images": test images, "subset": indices of those both models classify right}``."""

    def compute(pairing: Pairing) -> dict[str, Any]:
        both = clean_correct(pairing.source, context) & clean_correct(pairing.target, context)
        return {"images": len(both), "subset": both.nonzero().flatten().tolist()}

    return [subset_entry(pairing).get_or_compute(lambda pairing=pairing: compute(pairing)) for pairing in pairings]


def correct_subset(pairing: Pairing, context: EvaluationContext) -> list[int]:
    """The cached subset of one pair (computed from its cached predictions when missing)."""
    return evaluate_correct_subset([pairing], context)[0]["subset"]


def subset_rows(result: dict[str, Any], context: EvaluationContext, pairing: Pairing) -> Iterator[dict[str, Any]]:
    subset = set(result["subset"])
    return ({"standard": pairing.source.name, "image": image, "in_subset": image in subset}
            for image in range(result["images"]))


CORRECT_SUBSET = register(Evaluation(
    name="correct-subset", description="test images both models of a standard / robust pair classify right (ImageNet-CL)",
    columns=("standard", "image", "in_subset"), value="in_subset", evaluate=evaluate_correct_subset, rows=subset_rows,
    is_cached=lambda pairing, context: subset_entry(pairing).exists(), fills=("predictions",),
    pairings=robustness_pairings, headline_label="share of the test images in the subset",
))
