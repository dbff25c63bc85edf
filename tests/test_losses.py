import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import helpers
from tests import reference
from tf_wsoftmax.layers import NormalizedDense
from tf_wsoftmax.losses import WSoftmaxLoss
from tf_wsoftmax.training import TrainStep


def test_loss_value_matches_reference(rng):
    features = rng.normal(size=(8, 5)).astype("float32")
    y = rng.integers(0, 4, size=8)
    head = NormalizedDense(4, alpha=1.5)
    z = head(features)
    kernel = head.kernel.numpy()
    expected = reference.softmax_cross_entropy(reference.wsoftmax_logits(features, kernel, y, 1.5), y).mean()
    loss = WSoftmaxLoss(head)
    for labels in (y.astype("int32"), y.astype("float32"), y.reshape(-1, 1)):
        np.testing.assert_allclose(loss(labels, z).numpy(), expected, rtol=1e-5)
    # An explicit alpha overrides the head's.
    expected0 = reference.softmax_cross_entropy(reference.normalized_logits(features, kernel), y).mean()
    np.testing.assert_allclose(WSoftmaxLoss(head, alpha=0.0)(y, z).numpy(), expected0, rtol=1e-5)


def test_fit_and_custom_step_give_same_loss_and_gradients(rng):
    x, y = helpers.toy_batch(rng)
    reg = keras.regularizers.L2(1e-3)
    (b1, h1, m1), (b2, h2, m2) = helpers.twin_models(alpha=1.0, regularizer=reg)
    loss_fn = WSoftmaxLoss(h1)
    m1.compile(optimizer="sgd", loss=loss_fn)

    # The compile path: exactly what Model.compute_loss differentiates.
    with tf.GradientTape() as tape:
        y_pred = m1(x, training=True)
        fit_loss = m1.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
    fit_grads = tape.gradient(fit_loss, m1.trainable_variables)

    step = TrainStep(b2, h2, keras.optimizers.SGD())
    step_loss, _, step_grads, _ = step.loss_and_gradients(x, tf.constant(y))
    np.testing.assert_allclose(fit_loss.numpy(), step_loss.numpy(), rtol=1e-6)
    names1 = [v.path for v in m1.trainable_variables]
    names2 = [v.path for v in step.trainable_variables]
    assert len(names1) == len(names2)
    for g1, g2 in zip(fit_grads, step_grads):
        np.testing.assert_allclose(g1.numpy(), g2.numpy(), rtol=1e-5, atol=1e-6)
    # The kernel gradient includes the cosine (W_y . W_j) term, not only z.
    assert np.abs(fit_grads[-1].numpy()).max() > 0


@pytest.mark.parametrize("jit_compile", [False, True])
def test_fit_trains_the_head_like_the_custom_step(rng, jit_compile):
    x, y = helpers.toy_batch(rng)
    (b1, h1, m1), (b2, h2, m2) = helpers.twin_models(alpha=1.0)
    kernel_before = h1.kernel.numpy().copy()
    m1.compile(optimizer=keras.optimizers.SGD(0.1), loss=WSoftmaxLoss(h1), jit_compile=jit_compile)
    m1.fit(x, y, batch_size=len(y), epochs=1, shuffle=False, verbose=0)
    assert np.abs(h1.kernel.numpy() - kernel_before).max() > 1e-4

    step = TrainStep(b2, h2, keras.optimizers.SGD(0.1))
    step(x, y)
    helpers.assert_weights_close(m1.get_weights(), m2.get_weights(), atol=1e-5)


def test_loss_works_under_tf_function_and_xla(rng):
    features = rng.normal(size=(8, 5)).astype("float32")
    y = rng.integers(0, 4, size=8).astype("int32")
    head = NormalizedDense(4, alpha=1.0)
    loss = WSoftmaxLoss(head)
    z = head(features)
    eager = loss(y, z).numpy()
    np.testing.assert_allclose(tf.function(loss)(y, z).numpy(), eager, rtol=1e-6)
    np.testing.assert_allclose(tf.function(loss, jit_compile=True)(y, z).numpy(), eager, rtol=1e-5)


@pytest.mark.parametrize("wrap", [False, True], ids=["eager", "tf.function"])
@pytest.mark.parametrize(
    "labels,match",
    [
        (np.array([0, 1, 2, 9]), "y_true"),
        (np.array([0.0, 1.5, 2.0, 3.0], "float32"), "fractional"),
        (np.eye(4, dtype="float32"), "one-hot"),
        (np.array([0, 1]), "batch size"),
    ],
    ids=["out of range", "fractional", "one-hot", "batch mismatch"],
)
def test_bad_labels(labels, match, wrap):
    head = NormalizedDense(4, alpha=1.0)
    z = head(np.ones((4, 3), "float32"))
    loss = WSoftmaxLoss(head)
    fn = tf.function(loss) if wrap else loss
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match=match):
        fn(tf.constant(labels), z)


def test_out_of_range_label_under_xla_is_nan_not_silent():
    """XLA drops runtime assertions; the loss must then be NaN, not a number
    computed from a clamped label."""
    head = NormalizedDense(4, alpha=1.0)
    z = head(np.ones((2, 3), "float32"))
    value = tf.function(WSoftmaxLoss(head), jit_compile=True)(tf.constant([0, 7]), z)
    assert np.isnan(value.numpy())


def test_wrong_head_and_unbound_loss_are_reported():
    head = NormalizedDense(4)
    z = head(np.ones((2, 3), "float32"))
    with pytest.raises(ValueError, match="units=5"):
        WSoftmaxLoss(NormalizedDense(5))([0, 1], z)
    unbound = WSoftmaxLoss.from_config(WSoftmaxLoss(head, alpha=0.5).get_config())
    with pytest.raises(RuntimeError, match="not bound"):
        unbound([0, 1], z)
    with pytest.raises(ValueError, match="alpha"):
        WSoftmaxLoss(head, alpha=-1.0)


def test_config_round_trip_and_bind_after_load(tmp_path, rng):
    x, y = helpers.toy_batch(rng)
    (_, head, model), _ = helpers.twin_models()
    model.compile(optimizer="sgd", loss=WSoftmaxLoss(head, alpha=0.5))
    model.fit(x, y, epochs=1, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    loss = loaded.loss
    assert isinstance(loss, WSoftmaxLoss) and loss.alpha == 0.5 and loss.head_name == "head"
    loss.bind(loaded)
    assert loss.head is loaded.get_layer("head")
    before = loaded.get_layer("head").kernel.numpy().copy()
    loaded.fit(x, y, epochs=1, verbose=0)
    assert np.abs(loaded.get_layer("head").kernel.numpy() - before).max() > 0
