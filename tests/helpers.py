"""Small models shared by tests."""

import keras
import numpy as np

from tf_wsoftmax.layers import NormalizedDense
from tf_wsoftmax.models import classifier


def tiny_backbone(input_dim=6, feature_dim=5, regularizer=None):
    return keras.Sequential(
        [
            keras.Input((input_dim,)),
            keras.layers.Dense(8, kernel_regularizer=regularizer),
            keras.layers.PReLU(),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(feature_dim, kernel_regularizer=regularizer),
        ]
    )


def twin_models(alpha=1.0, classes=4, seed=0, regularizer=None, **head_kwargs):
    """Two identical (backbone, head, model) triples built from one seed."""
    out = []
    for _ in range(2):
        keras.utils.set_random_seed(seed)
        backbone = tiny_backbone(regularizer=regularizer)
        head = NormalizedDense(classes, alpha=alpha, name="head", **head_kwargs)
        out.append((backbone, head, classifier(backbone, head)))
    return out


def toy_batch(rng, n=16, input_dim=6, classes=4):
    x = rng.normal(size=(n, input_dim)).astype("float32")
    y = rng.integers(0, classes, size=n).astype("int32")
    return x, y


def assert_weights_close(a, b, atol):
    for wa, wb in zip(a, b):
        np.testing.assert_allclose(np.asarray(wa), np.asarray(wb), atol=atol)
