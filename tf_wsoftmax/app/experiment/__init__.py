"""Experiment runner: configs, single runs and the paper's sweeps."""

from tf_wsoftmax.app.experiment.config import LOSSES
from tf_wsoftmax.app.experiment.config import TrainConfig


def __getattr__(name):
    # The runner imports TensorFlow; the configs (and the CLI's parser) do not.
    if name == "run_training":
        from tf_wsoftmax.app.experiment.run import run_training

        return run_training
    raise AttributeError(name)

__all__ = ["LOSSES", "TrainConfig", "run_training"]
