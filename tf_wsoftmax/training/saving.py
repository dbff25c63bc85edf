"""`load_model`: `keras.models.load_model` for models of this package, with their margin losses bound."""

import keras

from tf_wsoftmax.losses import MarginLoss
from tf_wsoftmax.training.margin_classifier import MarginClassifier  # noqa: F401  (registers it)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Loads a `.keras` model and binds its compiled margin loss to the model's head.

    Keras rebuilds a compiled loss in `load_model` from its config alone and
    hands it no model, so a `MarginLoss` / `WSoftmaxLoss` comes back unbound:
    the loaded model predicts, but `fit` and `evaluate` would fail. This
    loads with `keras.models.load_model` (the package's layers, losses and
    models are registered by importing it) and binds every `MarginLoss`
    among the compiled losses to the head it names (`MarginLoss.bind`).

    Args:
        filepath: a `.keras` file.
        custom_objects: as `keras.models.load_model`.
        compile: compile the model as it was saved. Defaults to True.
        safe_mode: as `keras.models.load_model`. Defaults to True.

    Returns:
        The model, ready to `predict`, `evaluate`, `fit` and `export`.

    Example:
    >>> import os, tempfile, numpy as np, keras
    >>> from tf_wsoftmax.layers import NormalizedDense
    >>> from tf_wsoftmax.losses import WSoftmaxLoss
    >>> head = NormalizedDense(3, alpha=1.0, name="head")
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), head])
    >>> model.compile("sgd", loss=WSoftmaxLoss(head))
    >>> path = os.path.join(tempfile.mkdtemp(), "model.keras")
    >>> model.save(path)
    >>> loaded = load_model(path)
    >>> _ = loaded.fit(np.ones((6, 4), "float32"), np.arange(6) % 3, verbose=0)
    """
    model = keras.models.load_model(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)
    for loss in keras.tree.flatten(getattr(model, "loss", None)):
        if isinstance(loss, MarginLoss):
            loss.bind(model)
    return model
