"""Worst-case perturbations (paper section 3, "Measuring worst-case robustness"): FGSM and
L-infinity PGD and L2 PGD (the second paper's) on [0, 1] images, with the model's normalisation
inside the model."""

from selrob.attacks.common import attack_accuracy, eval_mode, per_image
from selrob.attacks.fgsm import fgsm_attack, fgsm_correct
from selrob.attacks.pgd import PGDResult, pgd_attack
from selrob.attacks.pgd_l2 import pgd_l2_attack
from selrob.attacks.settings import (ATTACK_PRESETS, IMAGENET_L2, AttackSettings, L2Attack, attack_settings,
                                     l2_attack_preset, scaled_l2_attack)

__all__ = [
    "ATTACK_PRESETS",
    "AttackSettings",
    "IMAGENET_L2",
    "L2Attack",
    "PGDResult",
    "attack_accuracy",
    "attack_settings",
    "eval_mode",
    "fgsm_attack",
    "fgsm_correct",
    "l2_attack_preset",
    "per_image",
    "pgd_attack",
    "pgd_l2_attack",
    "scaled_l2_attack",
]
