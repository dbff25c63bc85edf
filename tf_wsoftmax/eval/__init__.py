"""Evaluation: angle metrics, features, plots."""

from tf_wsoftmax.eval.angles import angle_statistics
from tf_wsoftmax.eval.angles import mean_class_angles
from tf_wsoftmax.eval.angles import project_onto_span
from tf_wsoftmax.eval.angles import weight_geometry
from tf_wsoftmax.eval.features import collect_features

__all__ = [
    "angle_statistics",
    "collect_features",
    "mean_class_angles",
    "project_onto_span",
    "weight_geometry",
]
