"""Evaluation: angle metrics, features, verification, plots.

Names load on first use (PEP 562): the statistics and the verification
metrics are NumPy, so the command line checks its flags (e.g. a `.bin` set
given twice) without starting Keras; `collect_features` imports Keras.
"""

from tf_wsoftmax._lazy import lazy_attributes

_LAZY = {
    "angle_statistics": "tf_wsoftmax.eval.angles",
    "chance_warning": "tf_wsoftmax.eval.health",
    "collapse_warning": "tf_wsoftmax.eval.health",
    "collect_features": "tf_wsoftmax.eval.features",
    "mean_class_angles": "tf_wsoftmax.eval.angles",
    "mean_pairwise_cosine": "tf_wsoftmax.eval.health",
    "paired_difference": "tf_wsoftmax.eval.seeds",
    "project_onto_span": "tf_wsoftmax.eval.angles",
    "weight_geometry": "tf_wsoftmax.eval.angles",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_attributes(__name__, {name: (module, name) for name, module in _LAZY.items()})
