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
    head.build(features.shape)
    kernel = head.kernel.numpy()
    expected = reference.softmax_cross_entropy(reference.wsoftmax_logits(features, kernel, y, 1.5), y).mean()
    test_time = reference.softmax_cross_entropy(reference.normalized_logits(features, kernel), y).mean()
    loss = WSoftmaxLoss(head)
    for labels in (y.astype("int32"), y.astype("float32"), y.reshape(-1, 1)):
        # A training call's output: the margin (training-logit) cross-entropy, one schedule step.
        np.testing.assert_allclose(loss(labels, head(features, training=True)).numpy(), expected, rtol=1e-5)
        # An inference call's output: the test-time cross-entropy, no step.
        np.testing.assert_allclose(loss(labels, head(features)).numpy(), test_time, rtol=1e-5)
    assert int(head.iterations.numpy()) == 3
    # alpha is the head's state: a new value is used by the next call.
    head.alpha = 0.0
    np.testing.assert_allclose(loss(y, head(features, training=True)).numpy(), test_time, rtol=1e-5)
    with pytest.raises(ValueError, match="takes alpha from its head"):
        WSoftmaxLoss(head, alpha=0.5)


@pytest.mark.parametrize("bias_gradient", ["full", "stop"])
def test_fit_and_custom_step_give_same_loss_and_gradients(rng, bias_gradient):
    x, y = helpers.toy_batch(rng)
    reg = keras.regularizers.L2(1e-3)
    (b1, h1, m1), (b2, h2, m2) = helpers.twin_models(alpha=1.0, regularizer=reg, bias_gradient=bias_gradient)
    loss_fn = WSoftmaxLoss(h1)
    m1.compile(optimizer="sgd", loss=loss_fn)

    # The compile path: exactly what Model.compute_loss differentiates.
    with tf.GradientTape() as tape:
        y_pred = m1(x, training=True)
        fit_loss = m1.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
    fit_grads = tape.gradient(fit_loss, m1.trainable_variables)

    step = TrainStep(b2, h2, keras.optimizers.SGD())
    step_outputs, step_grads = step.loss_and_gradients(x, tf.constant(y))
    np.testing.assert_allclose(fit_loss.numpy(), step_outputs["loss"].numpy(), rtol=1e-6)
    names1 = [v.path for v in m1.trainable_variables]
    names2 = [v.path for v in step.trainable_variables]
    assert len(names1) == len(names2)
    for g1, g2 in zip(fit_grads, step_grads):
        np.testing.assert_allclose(g1.numpy(), g2.numpy(), rtol=1e-5, atol=1e-6)
    # The kernel gradient includes the cosine (W_y . W_j) term, not only z.
    assert np.abs(fit_grads[-1].numpy()).max() > 0


@pytest.mark.parametrize("bias_gradient", ["full", "stop"])
@pytest.mark.parametrize("jit_compile", [False, True])
def test_fit_trains_the_head_like_the_custom_step(rng, jit_compile, bias_gradient):
    x, y = helpers.toy_batch(rng)
    (b1, h1, m1), (b2, h2, m2) = helpers.twin_models(alpha=1.0, bias_gradient=bias_gradient)
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

    def forward_and_loss(x):
        return loss(y, head(x, training=True))

    eager = forward_and_loss(features).numpy()
    np.testing.assert_allclose(tf.function(forward_and_loss)(features).numpy(), eager, rtol=1e-6)
    np.testing.assert_allclose(
        tf.function(forward_and_loss, jit_compile=True)(features).numpy(), eager, rtol=1e-5
    )


@pytest.mark.parametrize("bias_gradient", ["full", "stop"])
def test_loss_needs_the_output_of_the_heads_latest_training_call(rng, bias_gradient):
    features = rng.normal(size=(8, 5)).astype("float32")
    y = rng.integers(0, 4, size=8).astype("int32")
    head = NormalizedDense(4, alpha=1.0, bias_gradient=bias_gradient)
    loss = WSoftmaxLoss(head)
    z = head(features, training=True)
    head(features[:4], training=True)  # a later training call: z is no longer its output
    with pytest.raises(ValueError, match="latest training call"):
        loss(y, z)
    # A layer after the head is refused the same way (its output is not the head's).
    with pytest.raises(ValueError, match="raw output"):
        loss(y, head(features, training=True) * 2.0)
    assert int(head.iterations.numpy()) == 0  # nothing was trained


@pytest.mark.parametrize("bias_gradient", ["full", "stop"])
def test_a_training_record_lives_for_one_loss_and_no_inference_call(rng, bias_gradient):
    """predict / evaluate / serving calls leave nothing on the head, and clear a training call's record;
    the record holds the features only where the margin needs them ("stop"), and one loss reads it once."""
    features = rng.normal(size=(8, 5)).astype("float32")
    head = NormalizedDense(4, alpha=1.0, bias_gradient=bias_gradient)
    model = keras.Sequential([keras.Input((5,)), head])
    model.predict(features, verbose=0)
    head(features)
    assert head._pending_training_call is None
    head(features, training=True)
    head(features, training=False)  # an inference call in between: the record is gone
    assert head._pending_training_call is None
    outputs = head(features, training=True)
    output, kept = head._pending_training_call
    assert output is outputs and (kept is None) == (bias_gradient == "full")
    loss = WSoftmaxLoss(head)
    loss(np.zeros(8, "int32"), outputs)
    assert head._pending_training_call is None and int(head.iterations.numpy()) == 1  # read once, one step
    loss(np.zeros(8, "int32"), outputs)  # read again: no record, the test-time cross-entropy, no step
    assert int(head.iterations.numpy()) == 1


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
    loss = WSoftmaxLoss(head)

    def forward_and_loss(y):
        return loss(y, head(np.ones((4, 3), "float32"), training=True))

    fn = tf.function(forward_and_loss) if wrap else forward_and_loss
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match=match):
        fn(tf.constant(labels))


def test_out_of_range_label_under_xla_is_nan_not_silent():
    """XLA drops runtime assertions; the loss must then be NaN, not a number
    computed from a clamped label."""
    head = NormalizedDense(4, alpha=1.0)
    loss = WSoftmaxLoss(head)
    value = tf.function(lambda y: loss(y, head(np.ones((2, 3), "float32"), training=True)), jit_compile=True)(
        tf.constant([0, 7])
    )
    assert np.isnan(value.numpy())


def test_wrong_head_and_unbound_loss_are_reported():
    head = NormalizedDense(4)
    z = head(np.ones((2, 3), "float32"))
    with pytest.raises(ValueError, match="units=5"):
        WSoftmaxLoss(NormalizedDense(5))([0, 1], z)
    unbound = WSoftmaxLoss.from_config(WSoftmaxLoss(NormalizedDense(4, name="elsewhere")).get_config())
    with pytest.raises(RuntimeError, match="not bound"):
        unbound([0, 1], z)


@pytest.mark.parametrize("bias_gradient", ["full", "stop"])
def test_loaded_compiled_model_trains_and_evaluates_once_bound(tmp_path, rng, bias_gradient):
    """`tf_wsoftmax.load_model` binds the loss; plain `keras.models.load_model` leaves it unbound (Keras
    rebuilds the loss without the model; no registry finds the head for it) and the error names the fix."""
    import tf_wsoftmax

    x, y = helpers.toy_batch(rng)
    (_, head, model), _ = helpers.twin_models(alpha=0.5, bias_gradient=bias_gradient)
    model.compile(optimizer="sgd", loss=WSoftmaxLoss(head))
    model.fit(x, y, epochs=1, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    expected = model.evaluate(x, y, verbose=0)
    loaded = keras.models.load_model(path)
    loss = loaded.loss
    assert isinstance(loss, WSoftmaxLoss) and loss.head_name == "head" and loss.head is None
    assert loaded.get_layer("head").alpha == 0.5
    assert loaded.get_layer("head").bias_gradient == bias_gradient
    with pytest.raises(RuntimeError, match=r"tf_wsoftmax.load_model.*loss.bind\(model\)"):
        loaded.evaluate(x, y, verbose=0)
    loaded = tf_wsoftmax.load_model(path)
    assert loaded.loss.head is loaded.get_layer("head")
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0), expected, rtol=1e-5)
    before = loaded.get_layer("head").kernel.numpy().copy()
    loaded.fit(x, y, epochs=1, verbose=0)
    assert np.abs(loaded.get_layer("head").kernel.numpy() - before).max() > 0
    # `bind` still works explicitly.
    assert loss.bind(loaded).head is loaded.get_layer("head")
    assert WSoftmaxLoss.from_config(loss.get_config()).bind(loaded).head is loaded.get_layer("head")


def test_unbound_loss_names_what_it_could_not_find():
    head = NormalizedDense(4, name="other")
    z = head(np.ones((2, 3), "float32"))
    loss = WSoftmaxLoss.from_config(WSoftmaxLoss(head).get_config())
    loss.head_name = "head"
    with pytest.raises(RuntimeError, match="named 'head'"):
        loss([0, 1], z)
    with pytest.raises(RuntimeError, match="not bound"):
        WSoftmaxLoss()([0, 1], tf.ones((2, 4)))


def test_fit_with_default_jit_compile_raises_for_an_out_of_range_label(rng):
    """Keras' jit_compile="auto" gives no XLA here, so the label check raises."""
    x, _ = helpers.toy_batch(rng, n=8)
    (_, head, model), _ = helpers.twin_models()
    model.compile(optimizer="sgd", loss=WSoftmaxLoss(head))
    with pytest.raises(tf.errors.InvalidArgumentError, match="y_true"):
        model.fit(x, np.array([0, 1, 2, 9, 0, 1, 2, 0]), verbose=0)
    assert model.jit_compile is False
