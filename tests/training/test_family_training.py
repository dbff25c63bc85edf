"""Every loss trains a small model through compile/fit (MarginClassifier) and TrainStep;
centre updates and centre state."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import helpers
from tests import reference
from tf_wsoftmax import ops
from tf_wsoftmax.layers import ArcFaceDense
from tf_wsoftmax.layers import CenterLossLayer
from tf_wsoftmax.layers import ContrastiveCenterLossLayer
from tf_wsoftmax.layers import CosFaceDense
from tf_wsoftmax.layers import LSoftmaxDense
from tf_wsoftmax.layers import NormalizedDense
from tf_wsoftmax.layers import SphereFaceDense
from tf_wsoftmax.training import MarginClassifier
from tf_wsoftmax.training import TrainStep

CLASSES = 4

CONFIGS = {
    "softmax": lambda: (keras.layers.Dense(CLASSES), None),
    "normalized_softmax": lambda: (NormalizedDense(CLASSES, alpha=0.0), None),
    "wsoftmax": lambda: (NormalizedDense(CLASSES, alpha=1.0), None),
    "lsoftmax": lambda: (LSoftmaxDense(CLASSES, margin=4, lambda_base=100.0, lambda_gamma=0.05, lambda_power=1.0), None),
    "sphereface": lambda: (SphereFaceDense(CLASSES, margin=4, lambda_gamma=0.05), None),
    "cosface": lambda: (CosFaceDense(CLASSES, scale=16.0, margin=0.2), None),
    "arcface": lambda: (ArcFaceDense(CLASSES, scale=16.0, margin=0.3), None),
    "center+softmax": lambda: (keras.layers.Dense(CLASSES), CenterLossLayer(CLASSES, weight=0.01)),
    "center+wsoftmax": lambda: (NormalizedDense(CLASSES, alpha=1.0), CenterLossLayer(CLASSES, weight=0.01)),
    "contrastive_center+softmax": lambda: (keras.layers.Dense(CLASSES), ContrastiveCenterLossLayer(CLASSES, weight=0.1)),
}


def blobs(seed=0, n=240, dim=6):
    """4 well separated Gaussian classes: a sanity task every loss must learn."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(CLASSES, dim)) * 3.0
    labels = rng.integers(0, CLASSES, size=n).astype("int32")
    return (means[labels] + rng.normal(size=(n, dim))).astype("float32"), labels


def no_bn_backbone():
    return keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(5)]
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_loss_trains_with_fit(name):
    keras.utils.set_random_seed(0)
    x, y = blobs()
    head, feature_loss = CONFIGS[name]()
    model = MarginClassifier(no_bn_backbone(), head, feature_loss)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=8, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    x_test, y_test = blobs(seed=0, n=200)
    accuracy = np.mean(np.argmax(model.predict(x_test, verbose=0), -1) == y_test)
    assert accuracy > 0.9, (name, accuracy)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_loss_trains_with_the_custom_step(name):
    keras.utils.set_random_seed(0)
    x, y = blobs()
    head, feature_loss = CONFIGS[name]()
    backbone = no_bn_backbone()
    step = TrainStep(backbone, head, keras.optimizers.SGD(0.05, momentum=0.9), feature_loss=feature_loss)
    first = last = None
    for epoch in range(8):
        for i in range(0, len(y), 32):
            out = step(x[i : i + 32], y[i : i + 32])
            first = float(out["cross_entropy"]) if first is None else first
            last = float(out["cross_entropy"])
    assert np.isfinite(last) and last < first, (name, first, last)
    _, logits = backbone(x), head(backbone(x))
    assert np.mean(np.argmax(logits, -1) == y) > 0.9


@pytest.mark.parametrize("name", ["center+wsoftmax", "contrastive_center+softmax", "lsoftmax"])
def test_fit_step_equals_custom_step(rng, name):
    x, y = helpers.toy_batch(rng)
    runs = []
    for _ in range(2):
        keras.utils.set_random_seed(0)
        head, feature_loss = CONFIGS[name]()
        if feature_loss is not None:
            feature_loss.centers_initializer = keras.initializers.RandomNormal(seed=3)
        runs.append((helpers.tiny_backbone(), head, feature_loss))
    (b1, h1, f1), (b2, h2, f2) = runs
    model = MarginClassifier(b1, h1, f1)
    model.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=False)
    model.fit(x, y, batch_size=len(y), epochs=1, shuffle=False, verbose=0)
    b2(x[:1])
    if f2 is not None:
        f2.build((None, 5))
    TrainStep(b2, h2, keras.optimizers.SGD(0.1), feature_loss=f2)(x, y)
    helpers.assert_weights_close(
        b1.get_weights() + h1.get_weights(), b2.get_weights() + h2.get_weights(), atol=1e-5
    )
    if f1 is not None:
        np.testing.assert_allclose(f1.centers.numpy(), f2.centers.numpy(), atol=1e-6)


def test_center_update_runs_once_per_step_with_the_batch_features(rng):
    """With a zero learning rate the features stay fixed, so after one step the
    centres must equal the reference update of those features."""
    x, y = helpers.toy_batch(rng)
    backbone = no_bn_backbone()
    layer = CenterLossLayer(4, weight=1.0, center_rate=0.5, centers_initializer=keras.initializers.RandomNormal(seed=1))
    layer.build((None, 5))
    start = layer.centers.numpy().copy()
    step = TrainStep(backbone, keras.layers.Dense(4), keras.optimizers.SGD(0.0), feature_loss=layer)
    step(x, y)
    features = backbone(x).numpy()
    np.testing.assert_allclose(layer.centers.numpy(), reference.center_update(features, start, y, 0.5), atol=1e-5)


def test_contrastive_centers_follow_their_own_learning_rate(rng):
    x, y = helpers.toy_batch(rng)
    backbone = no_bn_backbone()
    layer = ContrastiveCenterLossLayer(
        4, weight=0.5, center_learning_rate=0.3, centers_initializer=keras.initializers.RandomNormal(seed=1)
    )
    layer.build((None, 5))
    start = tf.constant(layer.centers.numpy())
    step = TrainStep(backbone, keras.layers.Dense(4), keras.optimizers.SGD(0.0), feature_loss=layer)
    step(x, y)
    features = tf.constant(backbone(x).numpy())
    with tf.GradientTape() as tape:
        tape.watch(start)
        value = 0.5 * tf.reduce_mean(ops.contrastive_center_loss(features, start, y, 1.0))
    expected = start - 0.3 * tape.gradient(value, start)
    np.testing.assert_allclose(layer.centers.numpy(), expected.numpy(), atol=1e-6)
    # The model optimiser never sees the centres.
    assert layer.trainable_weights == []


def test_centres_survive_checkpoint_and_keras_round_trips_but_not_export(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = blobs(n=64)
    model = MarginClassifier(no_bn_backbone(), NormalizedDense(4, alpha=1.0), CenterLossLayer(4, weight=0.1))
    model.compile(optimizer="sgd", metrics=["accuracy"])
    model.fit(x, y, epochs=1, verbose=0)
    centers = model.feature_loss.centers.numpy()
    assert np.abs(centers).max() > 0

    path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    keras.utils.set_random_seed(1)
    fresh = MarginClassifier(no_bn_backbone(), NormalizedDense(4, alpha=1.0), CenterLossLayer(4, weight=0.1))
    tf.train.Checkpoint(model=fresh).restore(path).expect_partial().assert_existing_objects_matched()
    np.testing.assert_allclose(fresh.feature_loss.centers.numpy(), centers)

    model.save(str(tmp_path / "m.keras"))
    loaded = keras.models.load_model(str(tmp_path / "m.keras"))
    assert isinstance(loaded, MarginClassifier) and loaded.compiled
    loaded.fit(x, y, epochs=1, verbose=0)  # trains on after loading
    loaded = keras.models.load_model(str(tmp_path / "m.keras"))
    np.testing.assert_allclose(loaded.feature_loss.centers.numpy(), centers)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)

    serving = model.serving_model()
    serving.export(str(tmp_path / "export"))
    exported = tf.saved_model.load(str(tmp_path / "export"))
    shapes = sorted(tuple(v.shape) for v in exported.variables)
    assert (4, 5) not in shapes  # no (num_classes, dim) centres
    assert (5, 4) in shapes  # the head's kernel
    np.testing.assert_allclose(exported.serve(x).numpy(), model.predict(x, verbose=0), atol=1e-5)


def test_margin_classifier_rejects_a_compile_loss():
    model = MarginClassifier(no_bn_backbone(), NormalizedDense(4))
    with pytest.raises(ValueError, match="without `loss`"):
        model.compile(optimizer="sgd", loss="mse")


def test_center_rate_is_named_for_itself_and_old_configs_still_load():
    """alpha is W-Softmax's: the centre update rate is `center_rate`; a config
    saved before the rename (key "alpha") still deserialises."""
    layer = CenterLossLayer(3, weight=0.1, center_rate=0.25)
    config = layer.get_config()
    assert config["center_rate"] == 0.25 and "alpha" not in config
    old = dict(config, alpha=config.pop("center_rate"))
    assert CenterLossLayer.from_config(old).center_rate == 0.25
    with pytest.raises(TypeError, match="center_rate"):
        CenterLossLayer(3, alpha=0.5)
    with pytest.raises(ValueError, match="center_rate"):
        CenterLossLayer(3, center_rate=1.5)
