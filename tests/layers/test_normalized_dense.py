import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import reference
from tf_wsoftmax.layers import NormalizedDense


@pytest.fixture
def batch(rng):
    x = rng.normal(size=(6, 5)).astype("float32")
    y = rng.integers(0, 4, size=6).astype("int32")
    return x, y


def test_paths_match_reference(batch):
    x, y = batch
    head = NormalizedDense(4, alpha=1.5)
    test_logits = head(x).numpy()
    kernel = head.kernel.numpy()
    np.testing.assert_allclose(test_logits, reference.normalized_logits(x, kernel), atol=1e-5)
    train_logits = head(x, labels=y, training=True).numpy()
    np.testing.assert_allclose(train_logits, reference.wsoftmax_logits(x, kernel, y, 1.5), atol=1e-5)
    # Labels without training, or training without labels: the test-time path.
    np.testing.assert_allclose(head(x, labels=y, training=False).numpy(), test_logits, atol=1e-6)
    np.testing.assert_allclose(head(x, training=True).numpy(), test_logits, atol=1e-6)


def test_outputs_ignore_class_vector_norms(batch):
    x, y = batch
    head = NormalizedDense(4, alpha=1.0)
    before = head(x, labels=y, training=True).numpy()
    head.kernel.assign(head.kernel.numpy() * np.array([0.1, 2.0, 7.0, 1.0], "float32"))
    np.testing.assert_allclose(head(x, labels=y, training=True).numpy(), before, atol=1e-5)


def test_default_init_is_xavier_and_no_bias():
    head = NormalizedDense(10)
    head.build((None, 64))
    assert isinstance(head.kernel_initializer, keras.initializers.GlorotUniform)
    assert [w.name for w in head.trainable_weights] == ["kernel"]
    assert sorted(w.name for w in head.non_trainable_weights) == ["alpha", "iterations"]
    limit = np.sqrt(6.0 / (64 + 10))
    assert np.abs(head.kernel.numpy()).max() <= limit


def test_config_round_trip():
    head = NormalizedDense(7, alpha=0.5, kernel_regularizer=keras.regularizers.L2(1e-3), name="h")
    clone = NormalizedDense.from_config(head.get_config())
    assert clone.get_config() == head.get_config()
    assert clone.alpha == 0.5 and clone.units == 7


def test_keras_file_round_trip(tmp_path, batch):
    x, y = batch
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8), NormalizedDense(4, alpha=1.0)])
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.layers[-1], NormalizedDense) and loaded.layers[-1].alpha == 1.0
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_mixed_precision_outputs_float32(batch):
    x, y = batch
    keras.config.set_dtype_policy("mixed_float16")
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8), NormalizedDense(4, alpha=1.0)])
    head = model.layers[-1]
    features = model.layers[0](x)
    assert features.dtype == tf.float16
    with tf.GradientTape() as tape:
        logits = head(features, labels=y, training=True)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
    assert logits.dtype == tf.float32 and loss.dtype == tf.float32
    assert np.isfinite(loss.numpy())
    assert np.all(np.isfinite(tape.gradient(loss, head.kernel).numpy()))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(units=0), "units"),
        (dict(units=2.5), "units"),
        (dict(units=3, alpha=-1.0), "alpha"),
        (dict(units=3, alpha=float("nan")), "alpha"),
        (dict(units=3, alpha="1"), "alpha"),
        (dict(units=3, bias_gradient="none"), "bias_gradient"),
        (dict(units=3, bias_gradient=None), "bias_gradient"),
        (dict(units=3, alpha_warmup_steps=-1), "alpha_warmup_steps"),
        (dict(units=3, alpha_warmup_steps=1.5), "alpha_warmup_steps"),
        (dict(units=3, alpha_ramp_steps=-2), "alpha_ramp_steps"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NormalizedDense(**kwargs)


def test_wrong_feature_dimension_is_rejected(batch):
    x, _ = batch
    head = NormalizedDense(4)
    head(x)
    with pytest.raises(ValueError, match="5|axis"):
        head(np.ones((2, 3), "float32"))


def test_alpha_change_after_tracing_takes_effect(batch):
    """alpha is a weight read at run time: a traced (and an XLA-compiled)
    function sees a new value without retracing."""
    x, y = batch
    head = NormalizedDense(4, alpha=1.0)
    head.build((None, 5))
    for jit_compile in (False, True):
        step = tf.function(lambda f, l: head(f, labels=l, training=True), jit_compile=jit_compile)
        head.alpha = 0.0
        np.testing.assert_allclose(step(x, y).numpy(), reference.normalized_logits(x, head.kernel.numpy()), atol=1e-5)
        head.alpha = 1.5
        kernel = head.kernel.numpy()
        np.testing.assert_allclose(step(x, y).numpy(), reference.wsoftmax_logits(x, kernel, y, 1.5), atol=1e-5)
        assert step.experimental_get_tracing_count() == 1
    with pytest.raises(ValueError, match="alpha"):
        head.alpha = -1.0
    assert head.alpha == 1.5


def test_a_head_made_with_alpha_zero_is_normalized_softmax_for_good(batch):
    """alpha = 0 is decided when the head is made: no alpha weight, the training logits are the
    test-time ones, and a positive alpha later is refused with a message naming the way out."""
    x, y = batch
    head = NormalizedDense(4, alpha=0.0, name="plain")
    head.build((None, 5))
    assert not head.weight_bias and [w.name for w in head.weights] == ["kernel", "iterations"]
    training = head(x, labels=y, training=True).numpy()
    np.testing.assert_allclose(training, reference.normalized_logits(x, head.kernel.numpy()), atol=1e-5)
    head.alpha = 0.0  # allowed: it is what the head is
    with pytest.raises(ValueError, match="made with alpha=0.*alpha_warmup_steps"):
        head.alpha = 0.5
    assert head.alpha == 0.0 and float(head.current_alpha()) == 0.0
    assert NormalizedDense.from_config(head.get_config()).weight_bias is False
    scheduled = NormalizedDense(4, alpha=1.0, alpha_warmup_steps=10)
    assert scheduled.weight_bias  # alpha 0 only for a while: W-Softmax, which pays the cosines


@pytest.mark.parametrize("ramp", [0, 4])
def test_alpha_schedule_warms_up_with_softmax_then_switches_or_ramps(batch, ramp):
    """Algorithm 1 on the layer's step counter: steps 0..warmup-1 are
    normalised softmax, then alpha ramps linearly over `ramp` steps."""
    x, y = batch
    warmup, alpha = 3, 2.0
    head = NormalizedDense(4, alpha=alpha, alpha_warmup_steps=warmup, alpha_ramp_steps=ramp)
    head.build((None, 5))
    kernel = head.kernel.numpy()
    step = tf.function(lambda f, l: head(f, labels=l, training=True))
    for index in range(warmup + ramp + 2):
        expected_alpha = 0.0 if index < warmup else alpha * min(1.0, (index - warmup + 1) / ramp if ramp else 1.0)
        assert float(head.current_alpha()) == pytest.approx(expected_alpha)
        np.testing.assert_allclose(
            step(x, y).numpy(), reference.wsoftmax_logits(x, kernel, y, expected_alpha), atol=1e-5
        )
    assert int(head.iterations.numpy()) == warmup + ramp + 2
    # Test-time calls are not steps.
    head(x)
    head(x, labels=y, training=False)
    assert int(head.iterations.numpy()) == warmup + ramp + 2


def test_alpha_and_schedule_position_survive_keras_file_and_checkpoint(tmp_path, batch):
    x, y = batch
    model = keras.Sequential([keras.Input((5,)), NormalizedDense(4, alpha=1.0, alpha_warmup_steps=5, name="head")])
    head = model.get_layer("head")
    for _ in range(3):
        head(x, labels=y, training=True)
    head.alpha = 0.75
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path).get_layer("head")
    assert loaded.alpha == 0.75 and int(loaded.iterations.numpy()) == 3
    assert loaded.get_config()["alpha_warmup_steps"] == 5

    checkpoint_path = tf.train.Checkpoint(head=head).save(str(tmp_path / "ckpt"))
    fresh = NormalizedDense(4, alpha=1.0, alpha_warmup_steps=5)
    fresh.build((None, 5))
    tf.train.Checkpoint(head=fresh).restore(checkpoint_path).assert_existing_objects_matched()
    assert fresh.alpha == 0.75 and int(fresh.iterations.numpy()) == 3
    assert float(fresh.current_alpha()) == 0.0  # two warm-up steps left
    fresh(x, labels=y, training=True)
    fresh(x, labels=y, training=True)
    assert float(fresh.current_alpha()) == 0.75
