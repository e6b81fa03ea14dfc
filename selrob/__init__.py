"""selrob: reproduce "Linking average- and worst-case perturbation robustness via class
selectivity and dimensionality" and "The shape and simplicity biases of adversarially robust
ImageNet-trained CNNs".

The package holds all logic; the numbered notebooks only call it and plot.
"""

from selrob.measures import class_selectivity_index, evaluate_clean, mean_class_selectivity, UnitRecorder
from selrob.errors import SelrobError
from selrob.models import build_model
from selrob.notebook_parameters import notebook_parameters
from selrob.tables.evaluations import evaluation_table, evaluation_tables
from selrob.tables.runs import SweepResults, load_results, load_sweep
from selrob.config import sweep_configs
from selrob.pipeline.sweep import run_sweep
from selrob.config import TrainConfig, resolve_config
from selrob.training import train_run

__version__ = "0.1.0"

__all__ = [
    "SelrobError",
    "SweepResults",
    "TrainConfig",
    "UnitRecorder",
    "build_model",
    "class_selectivity_index",
    "evaluate_clean",
    "evaluation_table",
    "evaluation_tables",
    "load_results",
    "load_sweep",
    "mean_class_selectivity",
    "notebook_parameters",
    "resolve_config",
    "run_sweep",
    "sweep_configs",
    "train_run",
]
