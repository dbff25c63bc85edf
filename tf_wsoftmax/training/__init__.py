"""Training: `MarginClassifier` (Keras `fit`, every backend), the resumable run (`fit_run` in a
`RunFolder`, one checkpoint file), and TensorFlow's `TrainStep` for custom `tf.function` loops.

Names load on first use (PEP 562): `from tf_wsoftmax.training import
MarginClassifier` imports no TensorFlow, so it works where only JAX is
installed; `TrainStep` needs TensorFlow.
"""

from tf_wsoftmax._lazy import lazy_attributes

_LAZY = {
    "LazyColumnSGD": "tf_wsoftmax.training.lazy_columns",
    "LazyColumns": "tf_wsoftmax.training.lazy_columns",
    "CheckpointError": "tf_wsoftmax.training.checkpoint",
    "MarginClassifier": "tf_wsoftmax.training.margin_classifier",
    "TrainStep": "tf_wsoftmax.training.train_step",
    "RunFolder": "tf_wsoftmax.training.run_folder",
    "RunFolderError": "tf_wsoftmax.training.run_folder",
    "StepHook": "tf_wsoftmax.training.runner",
    "fit_run": "tf_wsoftmax.training.runner",
    "load_model": "tf_wsoftmax.training.saving",
    "paper_kernel_regularizer": "tf_wsoftmax.training.optimizer",
    "paper_learning_rate": "tf_wsoftmax.training.optimizer",
    "paper_optimizer": "tf_wsoftmax.training.optimizer",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_attributes(__name__, {name: (module, name) for name, module in _LAZY.items()})
