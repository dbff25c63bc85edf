"""Keras `Loss` classes over the ops."""

from tf_wsoftmax.losses.margin_loss import MarginLoss
from tf_wsoftmax.losses.objective import SoftmaxCrossEntropy
from tf_wsoftmax.losses.objective import compute_objective
from tf_wsoftmax.losses.objective import score_head
from tf_wsoftmax.losses.objective import sparse_labels
from tf_wsoftmax.losses.objective import sparse_labels_from_keras
from tf_wsoftmax.losses.registry import LOSSES
from tf_wsoftmax.losses.registry import Hyperparameter
from tf_wsoftmax.losses.registry import LossEntry
from tf_wsoftmax.losses.registry import build_loss
from tf_wsoftmax.losses.registry import get_loss
from tf_wsoftmax.losses.wsoftmax_loss import WSoftmaxLoss

__all__ = [
    "LOSSES",
    "Hyperparameter",
    "LossEntry",
    "MarginLoss",
    "SoftmaxCrossEntropy",
    "WSoftmaxLoss",
    "build_loss",
    "get_loss",
    "compute_objective",
    "score_head",
    "sparse_labels",
    "sparse_labels_from_keras",
]
