"""A shared test harness for the heads and centre layers, in the spirit of Keras' `run_layer_test`.

`run_head_test` / `run_centers_test` check one layer on the current Keras backend:
build and output shapes, the test-time and training outputs against float64 NumPy
references written from the papers' equations, float32 and mixed precision, one training
step through `MarginClassifier.fit`, the config and `.keras` round trips, and that every
declared hyperparameter refuses values outside its declared bounds.
"""

import math

import keras
import numpy as np

from tests import reference
from tf_wsoftmax.declarations import LOSS_DECLARATIONS
from tf_wsoftmax.training import MarginClassifier

MIXED_POLICY = "mixed_bfloat16" if keras.backend.backend() == "jax" else "mixed_float16"


def dtype(tensor):
    return keras.backend.standardize_dtype(tensor.dtype)


def reference_logits(head, x, y, training):
    """Float64 logits of `head` from its config and kernel (the papers' equations)."""
    w = np.asarray(head.kernel).astype("float64")
    x = np.asarray(x).astype("float64")
    name = type(head).__name__
    if name == "NormalizedDense":
        alpha = float(np.asarray(head.current_alpha()))
        return reference.wsoftmax_logits(x, w, y, alpha) if training else reference.normalized_logits(x, w)
    if name in ("LSoftmaxDense", "SphereFaceDense"):
        lam = float(np.asarray(head.current_lambda()))
        ref = reference.lsoftmax_logits if name == "LSoftmaxDense" else reference.sphereface_logits
        if training:
            return ref(x, w, y, head.margin, lam)
        return x @ w if name == "LSoftmaxDense" else reference.normalized_logits(x, w)
    ref = reference.cosface_logits if name == "CosFaceDense" else reference.arcface_logits
    return ref(x, w, y, head.scale, head.margin if training else 0.0)


def bad_values(hyperparameter):
    """Values each declared bound must refuse."""
    if hyperparameter.choices is not None:
        return ["not a choice"] if hyperparameter.kind is str else [0, 5]
    values = []
    if hyperparameter.kind is bool:
        return ["yes"]
    if hyperparameter.low is not None:
        values.append(hyperparameter.low if hyperparameter.low_open else hyperparameter.low - 1)
    if hyperparameter.high is not None:
        values.append(hyperparameter.high if hyperparameter.high_open else hyperparameter.high + 1)
    if hyperparameter.kind is int:
        values.append(1.5)
    else:
        values.append(math.nan)
    return values


def check_declared_bounds(layer_class, loss, target, required):
    """Each hyperparameter of `loss` that `layer_class` takes refuses its out-of-bounds values by name."""
    for h in LOSS_DECLARATIONS[loss].hyperparameters:
        if h.target != target:
            continue
        for value in bad_values(h):
            try:
                layer_class(*required, **{h.argument_name: value})
            except ValueError as error:
                assert h.argument_name in str(error), (loss, h.name, value, error)
            else:
                raise AssertionError(f"{layer_class.__name__}({h.argument_name}={value!r}) was accepted")


def check_keras_file_round_trip(model, x, tmp_path):
    path = tmp_path / "layer.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(
        np.asarray(loaded.predict(x, verbose=0)), np.asarray(model.predict(x, verbose=0)), rtol=1e-6, atol=1e-6
    )
    return loaded


def one_fit_step(head, feature_loss, x, y):
    """One `MarginClassifier.fit` step; returns its loss (finite) after checking the weights moved."""
    backbone = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(5)])
    model = MarginClassifier(backbone, head, feature_loss)
    model.compile(optimizer=keras.optimizers.SGD(0.1), metrics=["accuracy"])
    before = [np.asarray(w).copy() for w in model.trainable_weights]
    loss = model.fit(x, y, batch_size=len(y), epochs=1, verbose=0).history["loss"][0]
    assert np.isfinite(loss)
    assert max(float(np.abs(np.asarray(w) - b).max()) for w, b in zip(model.trainable_weights, before)) > 0
    return model


def run_head_test(make_head, loss, rng, tmp_path):
    """The whole check of one margin head (`make_head()` builds it with 4 classes)."""
    x = rng.normal(size=(6, 5)).astype("float32")
    y = (np.arange(6) % 4).astype("int32")
    head = make_head()
    # Shapes, and the two call paths against the float64 references.
    test_logits = head(x)
    assert tuple(test_logits.shape) == (6, 4) and dtype(test_logits) == "float32"
    np.testing.assert_allclose(np.asarray(test_logits), reference_logits(head, x, y, False), rtol=1e-5, atol=1e-4)
    expected = reference_logits(head, x, y, True)  # before the call: a schedule moves by one step
    training = head(x, labels=y, training=True)
    np.testing.assert_allclose(np.asarray(training), expected, rtol=1e-5, atol=1e-4)
    # Mixed precision: float32 logits, finite, from half-precision features.
    keras.config.set_dtype_policy(MIXED_POLICY)
    try:
        mixed_head, dense = make_head(), keras.layers.Dense(5)
        features = dense(x)
        assert "float16" in dtype(features)
        mixed = mixed_head(features, labels=y, training=True)
        assert dtype(mixed) == "float32" and np.all(np.isfinite(np.asarray(mixed)))
    finally:
        keras.config.set_dtype_policy("float32")
    # A training step, then the config and `.keras` round trips of the trained model.
    head = make_head()
    assert type(head).from_config(head.get_config()).get_config() == head.get_config()
    model = one_fit_step(head, None, x, y)
    loaded = check_keras_file_round_trip(model, x, tmp_path)
    assert loaded.head.get_config() == head.get_config()
    check_declared_bounds(type(head), loss, "head", (4,))


def run_centers_test(make_layer, loss, rng, tmp_path, reference_loss):
    """The whole check of one centre layer (`make_layer()` builds it with 4 classes)."""
    x = rng.normal(size=(6, 5)).astype("float32")
    y = (np.arange(6) % 4).astype("int32")
    layer = make_layer()
    value = layer(x, y)
    assert tuple(value.shape) == () and dtype(value) == "float32"
    centers = np.asarray(layer.centers).astype("float64")
    expected = layer.weight * reference_loss(x.astype("float64"), centers, y).mean()
    np.testing.assert_allclose(float(np.asarray(value)), expected, rtol=1e-5, atol=1e-7)
    keras.config.set_dtype_policy(MIXED_POLICY)
    try:
        mixed_layer = make_layer()
        mixed = mixed_layer(keras.layers.Dense(5)(x), y)
        assert dtype(mixed) == "float32" and np.isfinite(float(np.asarray(mixed)))
    finally:
        keras.config.set_dtype_policy("float32")
    layer = make_layer()
    assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()
    head = keras.layers.Dense(4, name="head")
    model = one_fit_step(head, layer, x, y)
    assert np.abs(np.asarray(layer.centers)).sum() > 0  # the centre update ran inside the step
    loaded = check_keras_file_round_trip(model, x, tmp_path)
    np.testing.assert_array_equal(np.asarray(loaded.feature_loss.centers), np.asarray(layer.centers))
    check_declared_bounds(type(layer), loss, "feature_loss", (4,))
