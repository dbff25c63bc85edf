"""Training: `MarginClassifier` (Keras `fit`, every backend; `fit_resumable`), and TensorFlow's `TrainStep` and loop.

Names load on first use (PEP 562): `from tf_wsoftmax.training import
MarginClassifier` imports no TensorFlow, so it works where only JAX is
installed; `TrainStep`, `train` and `LoopConfig` need TensorFlow.
"""

from tf_wsoftmax._lazy import lazy_attributes

_LAZY = {
    "LazyColumnSGD": "tf_wsoftmax.training.lazy_columns",
    "LazyColumns": "tf_wsoftmax.training.lazy_columns",
    "LoopConfig": "tf_wsoftmax.training.loop",
    "MarginClassifier": "tf_wsoftmax.training.margin_classifier",
    "TrainStep": "tf_wsoftmax.training.train_step",
    "classifier_logits": "tf_wsoftmax.training.forward",
    "evaluate_accuracy": "tf_wsoftmax.training.loop",
    "fit_resumable": "tf_wsoftmax.training.fit_loop",
    "load_model": "tf_wsoftmax.training.saving",
    "paper_kernel_regularizer": "tf_wsoftmax.training.optimizer",
    "paper_learning_rate": "tf_wsoftmax.training.optimizer",
    "paper_optimizer": "tf_wsoftmax.training.optimizer",
    "train": "tf_wsoftmax.training.loop",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_attributes(__name__, {name: (module, name) for name, module in _LAZY.items()})
