"""Pure measures on models and tensors: units, class selectivity, clean accuracy, Jacobian norm,
input-unit gradients, PCA and TwoNN dimensionality (cached per-source evaluations are in
:mod:`selrob.evaluations`)."""

from selrob.measures.evaluate import CleanEvaluation, evaluate_accuracy, evaluate_clean
from selrob.measures.selectivity import (
    ClassMeanAccumulator,
    class_conditional_means,
    class_selectivity_index,
    mean_class_selectivity,
)
from selrob.measures.units import UnitRecorder

__all__ = [
    "ClassMeanAccumulator",
    "CleanEvaluation",
    "UnitRecorder",
    "class_conditional_means",
    "class_selectivity_index",
    "evaluate_accuracy",
    "evaluate_clean",
    "mean_class_selectivity",
]
