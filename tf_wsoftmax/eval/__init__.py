"""Evaluation: angle metrics, features, plots."""

from tf_wsoftmax.eval.angles import angle_statistics
from tf_wsoftmax.eval.angles import mean_class_angles
from tf_wsoftmax.eval.angles import project_onto_span
from tf_wsoftmax.eval.angles import weight_geometry
from tf_wsoftmax.eval.features import collect_features
from tf_wsoftmax.eval.health import chance_warning
from tf_wsoftmax.eval.health import collapse_warning
from tf_wsoftmax.eval.health import mean_pairwise_cosine
from tf_wsoftmax.eval.seeds import paired_difference

__all__ = [
    "angle_statistics",
    "chance_warning",
    "collapse_warning",
    "collect_features",
    "mean_class_angles",
    "mean_pairwise_cosine",
    "paired_difference",
    "project_onto_span",
    "weight_geometry",
]
