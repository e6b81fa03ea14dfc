"""Attack strengths per dataset.

CIFAR-10 and Tiny ImageNet use the paper's values (section 3, Figure 2, A12, A13): FGSM at
epsilon 0 to 0.02 and PGD with step size 1e-4 within an L-infinity budget of 16/255, accuracy
after every step 0..40. With those steps the budget never binds (40 x 1e-4 < 16/255).

The paper has no digits. Its 8x8 images have 64 pixels where CIFAR has 3,072, so an L-infinity
step moves a logit ~50x less; at the paper's values digits accuracy hardly moves. Our digits
preset scales FGSM by 10 (epsilon 0 to 0.2) and the PGD step by 50 (5e-3), with the budget at
40 steps x 5e-3 = 0.2 so that, as in the paper, it never binds before the last step. Under it
PGD-40 takes the digits sweep from ~98% to 1-7% accuracy and FGSM at 0.2 to 10-15%.
"""

from __future__ import annotations

from dataclasses import dataclass

from selrob.data import check_dataset
from selrob.errors import SelrobError


@dataclass(frozen=True)
class AttackSettings:
    """One dataset's FGSM grid and PGD parameters (``random_start`` off, as in the paper)."""

    fgsm_epsilons: tuple[float, ...]
    pgd_epsilon: float
    pgd_step_size: float
    pgd_steps: int
    random_start: bool = False

    def __post_init__(self) -> None:
        if not self.fgsm_epsilons or min(self.fgsm_epsilons) < 0:
            raise SelrobError("fgsm_epsilons must be a non-empty list of non-negative numbers")
        if self.pgd_epsilon < 0 or self.pgd_step_size <= 0 or self.pgd_steps < 1:
            raise SelrobError("PGD needs epsilon >= 0, a positive step size and at least one step")

    def fgsm_params(self) -> dict[str, object]:
        """What FGSM results depend on (cache keys)."""
        return {"attack": "fgsm", "epsilons": list(self.fgsm_epsilons)}

    def pgd_params(self) -> dict[str, object]:
        """What PGD results depend on (cache keys)."""
        return {"attack": "pgd", "epsilon": self.pgd_epsilon, "step_size": self.pgd_step_size,
                "steps": self.pgd_steps, "random_start": self.random_start}


def _grid(stop: float, points: int = 9) -> tuple[float, ...]:
    return tuple(round(stop * i / (points - 1), 10) for i in range(points))


PAPER = AttackSettings(fgsm_epsilons=_grid(0.02), pgd_epsilon=16 / 255, pgd_step_size=1e-4, pgd_steps=40)

SMOKE_PGD_STEPS = 5

ATTACK_PRESETS: dict[str, AttackSettings] = {
    "digits": AttackSettings(fgsm_epsilons=_grid(0.2), pgd_epsilon=0.2, pgd_step_size=5e-3, pgd_steps=40),
    "cifar10": PAPER,
    "tinyimagenet": PAPER,
    "shapes": PAPER,  # 32 x 32 x 3, as CIFAR-10
}


def attack_settings(
    dataset: str,
    fgsm_epsilons: list[float] | tuple[float, ...] | None = None,
    pgd_epsilon: float | None = None,
    pgd_step_size: float | None = None,
    pgd_steps: int | None = None,
    random_start: bool | None = None,
    smoke: bool = False,
) -> AttackSettings:
    """The preset of ``dataset`` with any given value replacing the preset's; ``smoke`` shrinks
    the preset to 5 PGD steps and 3 FGSM epsilons (checks, like smoke training runs)."""
    preset = ATTACK_PRESETS[check_dataset(dataset)]
    if smoke:
        eps = preset.fgsm_epsilons
        preset = AttackSettings((eps[0], eps[len(eps) // 2], eps[-1]), preset.pgd_epsilon, preset.pgd_step_size, SMOKE_PGD_STEPS)
    return AttackSettings(
        fgsm_epsilons=tuple(float(e) for e in fgsm_epsilons) if fgsm_epsilons is not None else preset.fgsm_epsilons,
        pgd_epsilon=preset.pgd_epsilon if pgd_epsilon is None else float(pgd_epsilon),
        pgd_step_size=preset.pgd_step_size if pgd_step_size is None else float(pgd_step_size),
        pgd_steps=preset.pgd_steps if pgd_steps is None else int(pgd_steps),
        random_start=preset.random_start if random_start is None else bool(random_start),
    )
