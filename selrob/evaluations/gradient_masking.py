"""The gradient-masking check (appendix A.5, Figure A14): adversarial examples made with PGD on
the alpha = 0 replicates, tested on every alpha; an evaluation of pairs of sources.

Pairing (the paper does not spell it out; this is our rule): a target run of seed ``s`` is tested
on the examples of the alpha = 0 run of seed ``s``. For alpha = 0 that source is the target itself
("same replicate"); every alpha = 0 target is also tested on the next alpha = 0 seed's examples
(cyclically; "different replicate"). Targets of other alphas are a different network from their
source, so they count as "different replicate" too. One PGD pass per source evaluates all of its
targets after every step; each target's curve is cached in the target's folder, and the source's
own curve fills its PGD cache.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch

from selrob.attacks import attack_accuracy
from selrob.device import resolve_device
from selrob.errors import SelrobError
from selrob.evaluations.common import BATCH_SIZE, entry
from selrob.evaluations.pgd import ATTACK, attack_of, last_step, pgd_entry, pgd_generator, settings_pgd
from selrob.evaluations.registry import Evaluation, EvaluationContext, Pairing, register
from selrob.store.cache import CacheEntry
from selrob.store.sources import ModelSource

SAME = "same replicate"
DIFFERENT = "different replicate"


def masking_pairings(targets: Sequence[ModelSource], sources: Sequence[ModelSource]) -> list[Pairing]:
    """The (source, target) pairs of the check; the alpha = 0 runs among ``sources`` attack."""
    by_seed = {source.seed: source for source in sources if source.identity.get("alpha") == 0}
    seeds = sorted(by_seed)
    pairings = []
    for target in targets:
        seed = target.seed
        if seed not in by_seed:
            raise SelrobError(f"no alpha = 0 run of seed {seed} to attack with; train the alpha 0 runs of the same seeds")
        source = by_seed[seed]
        pairings.append(Pairing(source, target, SAME if source == target else DIFFERENT))
        if source == target and len(seeds) > 1:
            other = by_seed[seeds[(seeds.index(seed) + 1) % len(seeds)]]
            pairings.append(Pairing(other, target, DIFFERENT))
    return pairings


def transfer_entry(pairing: Pairing, context: EvaluationContext) -> CacheEntry:
    params = {**pgd_entry(pairing.source, context).params, "source": pairing.source.name}
    return entry(pairing.target, "pgd-transfer", params)


def evaluate_gradient_masking(pairings: Sequence[Pairing], context: EvaluationContext) -> list[list[float]]:
    """Each pairing's target accuracy after PGD steps 0..``pgd_steps`` on its source's examples,
    in the order of ``pairings``."""
    device = resolve_device(context.device)
    pending: dict[ModelSource, list[ModelSource]] = {}
    for pairing in pairings:
        if not transfer_entry(pairing, context).exists():
            pending.setdefault(pairing.source, []).append(pairing.target)
    computed: dict[tuple[ModelSource, ModelSource], list[float]] = {}
    for source, targets in pending.items():
        model, data = source.load_model(device), source.test_set(context.data_root).to(device)
        observers = [target for target in dict.fromkeys(targets) if target != source]
        observer_models = [target.load_model(device) for target in observers]
        generator = pgd_generator(source.seed)

        def correct(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            result = settings_pgd(model, x, y, attack_of(context), generator, context.settings.amp, observer_models)
            return torch.stack([result.correct, *result.observed])

        curves = attack_accuracy(data, correct, BATCH_SIZE, context.settings.progress,
                                 f"PGD transfer from seed {source.seed}")
        computed[(source, source)] = curves[0].tolist()
        pgd_entry(source, context).get_or_compute(lambda: curves[0].tolist())
        for target, curve in zip(observers, curves[1:]):
            computed[(source, target)] = curve.tolist()
    return [transfer_entry(pairing, context).get_or_compute(lambda pairing=pairing: computed[(pairing.source, pairing.target)])
            for pairing in pairings]


def masking_rows(curve: list[float], context: EvaluationContext, pairing: Pairing) -> Iterator[dict[str, Any]]:
    for step, accuracy in enumerate(curve):
        yield {"source_seed": pairing.source.seed, "relation": pairing.relation, "step": step, "accuracy": accuracy}


GRADIENT_MASKING = register(Evaluation(
    name="gradient-masking", description="accuracy on PGD examples made on the alpha = 0 replicates (Figure A14)",
    columns=("source_seed", "relation", "step", "accuracy"), value="accuracy", evaluate=evaluate_gradient_masking,
    rows=masking_rows, is_cached=lambda pairing, context: transfer_entry(pairing, context).exists(),
    fills=("pgd",), pairings=masking_pairings,
    headline=last_step, headline_label="after the last step",
    parameters=(ATTACK,),
))
