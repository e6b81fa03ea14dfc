"""selrob: reproduce "Linking average- and worst-case perturbation robustness via class
selectivity and dimensionality" and "The shape and simplicity biases of adversarially robust
ImageNet-trained CNNs".

The package holds all logic; the numbered notebooks only call it and plot.
"""

from selrob.measures import class_selectivity_index, evaluate_clean, mean_class_selectivity, UnitRecorder
from selrob.errors import SelrobError
from selrob.models import build_model
from selrob.notebook_parameters import notebook_parameters
from selrob.tables.evaluations import evaluate, evaluation_table, evaluation_tables
from selrob.user_models import model_source
from selrob.evaluations.registry import EvaluationSettings
from selrob.tables.runs import SweepResults, load_results, load_sweep
from selrob.config import sweep_configs
from selrob.pipeline.sweep import run_sweep
from selrob.config import TrainConfig, resolve_config
from selrob.training import train_run

__version__ = "0.1.0"

__all__ = [
    "EvaluationSettings",
    "SelrobError",
    "SweepResults",
    "TrainConfig",
    "UnitRecorder",
    "build_model",
    "class_selectivity_index",
    "evaluate",
    "evaluate_clean",
    "evaluation_table",
    "evaluation_tables",
    "load_results",
    "load_sweep",
    "mean_class_selectivity",
    "model_source",
    "notebook_parameters",
    "resolve_config",
    "run_sweep",
    "sweep_configs",
    "train_run",
]
