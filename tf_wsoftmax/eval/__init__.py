"""Evaluation metrics."""

from tf_wsoftmax.eval.angles import mean_class_angles

__all__ = ["mean_class_angles"]
