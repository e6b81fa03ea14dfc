"""The gradient-masking check (appendix A.5, Figure A14): adversarial examples made with PGD on
the alpha = 0 replicates, tested on every alpha.

Pairing (the paper does not spell it out; this is our rule): a target run of seed ``s`` is tested
on the examples of the alpha = 0 run of seed ``s``. For alpha = 0 that source is the target itself
("same replicate"); every alpha = 0 target is also tested on the next alpha = 0 seed's examples
(cyclically; "different replicate"). Targets of other alphas are a different network from their
source, so they count as "different replicate" too. One PGD pass per source evaluates all of its
targets after every step; each target's curve is cached in the target's run folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from selrob.analysis.cache import cache_path, cached_result
from selrob.analysis.worst_case import DEFAULT_BATCH_SIZE, pgd_cache_params, pgd_generator, settings_pgd
from selrob.attacks import AttackSettings, attack_accuracy
from selrob.device import resolve_device
from selrob.errors import SelrobError
from selrob.runs import Run

SAME = "same replicate"
DIFFERENT = "different replicate"


@dataclass(frozen=True)
class Pairing:
    """One target tested on one source's adversarial examples."""

    source: Run
    target: Run
    relation: str


def masking_pairings(targets: Sequence[Run], sources: Sequence[Run]) -> list[Pairing]:
    """The (source, target) pairs of the check; ``sources`` are the alpha = 0 runs."""
    by_seed = {source.config().seed: source for source in sources}
    seeds = sorted(by_seed)
    pairings = []
    for target in targets:
        seed = target.config().seed
        if seed not in by_seed:
            raise SelrobError(f"no alpha = 0 run of seed {seed} to attack with; train the alpha 0 runs of the same seeds")
        source = by_seed[seed]
        pairings.append(Pairing(source, target, SAME if source == target else DIFFERENT))
        if source == target and len(seeds) > 1:
            other = by_seed[seeds[(seeds.index(seed) + 1) % len(seeds)]]
            pairings.append(Pairing(other, target, DIFFERENT))
    return pairings


def _params(settings: AttackSettings, source: Run, amp: bool) -> dict[str, object]:
    return {**pgd_cache_params(settings, amp), "source": source.identity}


def evaluate_gradient_masking(
    pairings: Sequence[Pairing],
    settings: AttackSettings,
    data_root: str | Path | None = None,
    device: str | torch.device | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    amp: bool = False,
    progress: bool = False,
) -> list[list[float]]:
    """Each pairing's target accuracy after PGD steps 0..``settings.pgd_steps`` on its source's
    examples, in the order of ``pairings``."""
    device = resolve_device(device)
    pending: dict[Run, list[Run]] = {}
    for pairing in pairings:
        if not cache_path(pairing.target.evaluations_dir, "pgd-transfer", _params(settings, pairing.source, amp)).is_file():
            pending.setdefault(pairing.source, []).append(pairing.target)
    computed: dict[tuple[Run, Run], list[float]] = {}
    for source, targets in pending.items():
        model, data = source.load_model(device), source.test_set(data_root).to(device)
        observers = [target for target in dict.fromkeys(targets) if target != source]
        observer_models = [target.load_model(device) for target in observers]
        generator = pgd_generator(source.config().seed)

        def correct(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            result = settings_pgd(model, x, y, settings, generator, amp, observer_models)
            return torch.stack([result.correct, *result.observed])

        curves = attack_accuracy(data, correct, batch_size, progress, f"PGD transfer from seed {source.config().seed}")
        computed[(source, source)] = curves[0].tolist()
        # The source's own curve is exactly its PGD evaluation: cache it as that too.
        cached_result(source.evaluations_dir, "pgd", pgd_cache_params(settings, amp), lambda: curves[0].tolist())
        for target, curve in zip(observers, curves[1:]):
            computed[(source, target)] = curve.tolist()
    return [
        cached_result(pairing.target.evaluations_dir, "pgd-transfer", _params(settings, pairing.source, amp),
                      lambda pairing=pairing: computed[(pairing.source, pairing.target)])
        for pairing in pairings
    ]
