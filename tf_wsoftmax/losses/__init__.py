"""Keras `Loss` classes over the ops."""

from tf_wsoftmax.losses.wsoftmax_loss import WSoftmaxLoss

__all__ = ["WSoftmaxLoss"]
