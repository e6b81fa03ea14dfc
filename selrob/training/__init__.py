"""Training: the selectivity regularizer and the resumable training loop."""

from selrob.training.loop import train_run
from selrob.training.regularizer import selectivity_regularized_loss

__all__ = ["selectivity_regularized_loss", "train_run"]
