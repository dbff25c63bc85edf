"""Training: `MarginClassifier` (Keras `fit`, every backend), and TensorFlow's `TrainStep` and loop.

Names load on first use (PEP 562): `from tf_wsoftmax.training import
MarginClassifier` imports no TensorFlow, so it works where only JAX is
installed; `TrainStep`, `train` and `LoopConfig` need TensorFlow.
"""

import importlib

_LAZY = {
    "LoopConfig": "tf_wsoftmax.training.loop",
    "MarginClassifier": "tf_wsoftmax.training.margin_classifier",
    "TrainStep": "tf_wsoftmax.training.train_step",
    "classifier_logits": "tf_wsoftmax.training.forward",
    "evaluate_accuracy": "tf_wsoftmax.training.loop",
    "paper_kernel_regularizer": "tf_wsoftmax.training.optimizer",
    "paper_learning_rate": "tf_wsoftmax.training.optimizer",
    "paper_optimizer": "tf_wsoftmax.training.optimizer",
    "train": "tf_wsoftmax.training.loop",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'tf_wsoftmax.training' has no attribute '{name}'")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
