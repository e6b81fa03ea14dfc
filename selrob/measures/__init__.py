"""Analyses of trained models: units, class selectivity, clean evaluation."""

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
