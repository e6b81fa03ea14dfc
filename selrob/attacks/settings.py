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

import math
from dataclasses import dataclass

from selrob.data import check_dataset, dataset_info
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
    if check_dataset(dataset, for_training=False) not in ATTACK_PRESETS:
        raise SelrobError(f"the first paper's FGSM and L-infinity PGD have no preset for {dataset}; its models get "
                          "the second paper's L2 PGD (selrob evaluate l2-pgd)")
    preset = ATTACK_PRESETS[dataset]
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


@dataclass(frozen=True)
class L2Attack:
    """L2 PGD with the robustness library's semantics (:func:`selrob.attacks.pgd_l2.pgd_l2_attack`):
    the second paper's adversarial training and its Table 1 attack."""

    epsilon: float
    step_size: float
    steps: int

    def __post_init__(self) -> None:
        if self.epsilon <= 0 or self.step_size <= 0 or self.steps < 1:
            raise SelrobError("L2 PGD needs a positive epsilon and step size and at least one step, "
                              f"got epsilon {self.epsilon}, step size {self.step_size}, {self.steps} steps")

    def with_steps(self, steps: int) -> L2Attack:
        """The same budget and path length (steps x step size) in ``steps`` steps: adversarial
        training with fewer steps than the test attack."""
        return L2Attack(self.epsilon, round(self.step_size * self.steps / steps, 4), steps)

    def scaled_to(self, epsilon: float | None) -> L2Attack:
        """The same attack with budget ``epsilon`` and the step size scaled with it (``None``: itself)."""
        if epsilon is None:
            return self
        return L2Attack(float(epsilon), round(self.step_size * epsilon / self.epsilon, 4), self.steps)

    def params(self) -> dict[str, object]:
        """What its results depend on (cache keys)."""
        return {"attack": "pgd-l2", "epsilon": self.epsilon, "step_size": self.step_size, "steps": self.steps}


#: The second paper's attack on ImageNet (224 x 224 x 3), in training and in Table 1: epsilon 3,
#: step 0.5, 7 steps (so the path, 3.5, overshoots the budget by 7/6).
IMAGENET_L2 = L2Attack(epsilon=3.0, step_size=0.5, steps=7)
IMAGENET_VALUES = 3 * 224 * 224


def scaled_l2_attack(values: int, steps: int = IMAGENET_L2.steps) -> L2Attack:
    """The ImageNet attack for images of ``values`` numbers (channels x height x width) with
    ``steps`` steps: epsilon at the same per-value RMS (it scales with the square root of the
    values: 3 at 224 x 224 x 3 is 0.43 at 32 x 32 x 3) and the same overshoot of the path over
    the budget (steps x step = 7/6 epsilon)."""
    epsilon = IMAGENET_L2.epsilon * math.sqrt(values / IMAGENET_VALUES)
    overshoot = IMAGENET_L2.steps * IMAGENET_L2.step_size / IMAGENET_L2.epsilon
    return L2Attack(round(epsilon, 4), round(overshoot * epsilon / steps, 4), steps)


#: Where the scaled budget is not the paper's regime. On the embedded shape-texture world the
#: scaled epsilon (0.43) leaves standard models 62% of their test images (on ImageNet, Table 1:
#: under 0.4%): its high-contrast 32-pixel textures need larger perturbations. At epsilon 1.0
#: standard alexnet_small models keep 15% (2% at 1.5), and robust ones train in the epochs the
#: time budget allows (at 1.5 they stayed below 30% validation accuracy after 4 epochs). Chosen
#: from those accuracies before any shape bias of a robust model was looked at.
L2_ATTACK_PRESETS: dict[str, L2Attack] = {"shapes": L2Attack(epsilon=1.0, step_size=1 / 6, steps=7)}


def l2_attack_preset(dataset: str) -> L2Attack:
    """Table 1's attack, and the adversarial-training budget, for ``dataset``: the paper's on
    ImageNet-sized images, the budget scaled to the dataset's image size otherwise
    (:func:`scaled_l2_attack`, 7 steps), unless ``L2_ATTACK_PRESETS`` says otherwise."""
    if dataset in L2_ATTACK_PRESETS:
        return L2_ATTACK_PRESETS[dataset]
    info = dataset_info(dataset)
    return scaled_l2_attack(info.in_channels * info.image_size ** 2)
