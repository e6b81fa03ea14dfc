"""Cached evaluations of model sources, one module each, declared in :mod:`.registry`.

Importing this package registers them all (each module registers on import); the stage runs
evaluations that fill another's cache before it, whatever the order of registration.
"""

from selrob.evaluations import (  # noqa: F401  (each module registers its evaluations)
    gradient_masking,
    dimensionality,
    unit_gradients,
    unit_selectivity,
    corruptions,
    fgsm,
    pgd,
    jacobian,
    natural_adversarial,
    cue_conflict,
    correct_subset,
    predictions,
    l2_pgd,
    distorted_images,
    corruption_predictions,
    smoothness,
    stylized_sixteen,
    dissection,
    channel_ablation,
)
from selrob.evaluations.registry import (
    EVALUATIONS,
    Evaluation,
    EvaluationContext,
    EvaluationSettings,
    Pairing,
    ParameterGroup,
    evaluation_order,
    get_evaluation,
    register,
    register_parameters,
    registered_evaluations,
    registered_parameters,
)

__all__ = ["EVALUATIONS", "Evaluation", "EvaluationContext", "EvaluationSettings", "Pairing", "ParameterGroup",
           "evaluation_order", "get_evaluation", "register", "register_parameters", "registered_evaluations",
           "registered_parameters"]
