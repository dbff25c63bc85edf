"""tf_wsoftmax: W-Softmax and related discriminative losses for Keras 3 (TensorFlow and JAX).

The top-level names load on first use (PEP 562), so that plain-data modules
such as `tf_wsoftmax.declarations` import without Keras (the command line's
`--help` builds its parser from them).
"""

import importlib

__version__ = "0.1.0"

_LAZY = {
    "ops": ("tf_wsoftmax.ops", None),
    "NormalizedDense": ("tf_wsoftmax.layers", "NormalizedDense"),
    "WSoftmaxLoss": ("tf_wsoftmax.losses", "WSoftmaxLoss"),
}

__all__ = ["NormalizedDense", "WSoftmaxLoss", "ops", "__version__"]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'tf_wsoftmax' has no attribute '{name}'")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
