"""tf_wsoftmax: W-Softmax and related discriminative losses for Keras 3 (TensorFlow and JAX).

The top-level names and the subpackages (`tw.layers`, `tw.losses`,
`tw.training`, ...) load on first use (PEP 562), so `import tf_wsoftmax`
starts no framework and plain-data modules such as
`tf_wsoftmax.declarations` import without Keras (the command line's `--help`
builds its parser from them).
"""

from tf_wsoftmax._lazy import lazy_attributes

__version__ = "0.1.0"

# Subpackages resolve on first use, as `keras.layers` does after `import keras`.
SUBMODULES = ("data", "distribution", "eval", "export", "layers", "losses", "models", "ops", "theory", "training")

_LAZY = {
    **{name: (f"tf_wsoftmax.{name}", None) for name in SUBMODULES},
    "NormalizedDense": ("tf_wsoftmax.layers", "NormalizedDense"),
    "WSoftmaxLoss": ("tf_wsoftmax.losses", "WSoftmaxLoss"),
    "load_model": ("tf_wsoftmax.training.saving", "load_model"),
}

__all__ = ["NormalizedDense", "WSoftmaxLoss", "load_model", *SUBMODULES, "__version__"]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
