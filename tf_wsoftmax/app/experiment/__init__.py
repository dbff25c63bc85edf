"""Experiment runner: configs, single runs and the paper's sweeps."""

from tf_wsoftmax.app.experiment.config import LOSSES
from tf_wsoftmax.app.experiment.config import TrainConfig
from tf_wsoftmax.app.experiment.run import run_training

__all__ = ["LOSSES", "TrainConfig", "run_training"]
