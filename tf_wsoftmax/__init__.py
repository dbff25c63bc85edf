"""tf_wsoftmax: W-Softmax and related discriminative losses for Keras 3 (TensorFlow and JAX).

The top-level names load on first use (PEP 562), so that plain-data modules
such as `tf_wsoftmax.declarations` import without Keras (the command line's
`--help` builds its parser from them).
"""

from tf_wsoftmax._lazy import lazy_attributes

__version__ = "0.1.0"

_LAZY = {
    "ops": ("tf_wsoftmax.ops", None),
    "NormalizedDense": ("tf_wsoftmax.layers", "NormalizedDense"),
    "WSoftmaxLoss": ("tf_wsoftmax.losses", "WSoftmaxLoss"),
}

__all__ = ["NormalizedDense", "WSoftmaxLoss", "ops", "__version__"]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
