"""Keras `Loss` classes over the ops."""

from tf_wsoftmax.losses.margin_loss import MarginLoss
from tf_wsoftmax.losses.margin_loss import sparse_labels_from_keras
from tf_wsoftmax.losses.wsoftmax_loss import WSoftmaxLoss

__all__ = ["MarginLoss", "WSoftmaxLoss", "sparse_labels_from_keras"]
