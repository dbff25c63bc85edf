"""Train steps, the paper's optimiser recipe and a resumable loop."""

from tf_wsoftmax.training.loop import LoopConfig
from tf_wsoftmax.training.loop import evaluate_accuracy
from tf_wsoftmax.training.loop import train
from tf_wsoftmax.training.optimizer import paper_kernel_regularizer
from tf_wsoftmax.training.optimizer import paper_learning_rate
from tf_wsoftmax.training.optimizer import paper_optimizer
from tf_wsoftmax.training.margin_classifier import MarginClassifier
from tf_wsoftmax.training.forward import classifier_logits
from tf_wsoftmax.training.train_step import TrainStep

__all__ = [
    "LoopConfig",
    "MarginClassifier",
    "TrainStep",
    "classifier_logits",
    "evaluate_accuracy",
    "paper_kernel_regularizer",
    "paper_learning_rate",
    "paper_optimizer",
    "train",
]
