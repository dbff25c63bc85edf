"""Margin heads on TensorFlow: the lambda schedule, mixed-precision gradients, bad arguments, MarginLoss.

The call paths against the float64 references, the config and `.keras` round trips and the
declared bounds run for every head on both backends in `tests/backends/test_layers.py`.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import helpers
from tf_wsoftmax import ops
from tf_wsoftmax.layers import ArcFaceDense
from tf_wsoftmax.layers import CosFaceDense
from tf_wsoftmax.layers import LSoftmaxDense
from tf_wsoftmax.layers import NormalizedDense
from tf_wsoftmax.layers import SphereFaceDense
from tf_wsoftmax.losses import MarginLoss
from tf_wsoftmax.training import TrainStep

HEADS = {
    "wsoftmax": lambda: NormalizedDense(4, alpha=1.0),
    "lsoftmax": lambda: LSoftmaxDense(4, margin=3, lambda_base=10.0, lambda_gamma=0.1, lambda_power=1.0),
    "sphereface": lambda: SphereFaceDense(4, margin=2, lambda_base=0.0, lambda_min=0.0),
    "cosface": lambda: CosFaceDense(4, scale=16.0, margin=0.2),
    "arcface": lambda: ArcFaceDense(4, scale=16.0, margin=0.3),
}


def test_lsoftmax_lambda_follows_the_iteration_counter(rng):
    head = HEADS["lsoftmax"]()
    x = rng.normal(size=(3, 5)).astype("float32")
    y = np.array([0, 1, 2], "int32")
    head.build((None, 5))
    for it in range(3):
        lam = 10.0 * (1 + 0.1 * it) ** -1.0
        np.testing.assert_allclose(float(head.current_lambda()), lam, rtol=1e-6)
        got = head(x, labels=y, training=True).numpy()
        np.testing.assert_allclose(got, ops.lsoftmax_logits(x, head.kernel, y, 3, lam).numpy(), rtol=1e-5)
        assert int(head.iterations.numpy()) == it + 1
    head(x)  # test-time calls do not advance the schedule
    assert int(head.iterations.numpy()) == 3


@pytest.mark.parametrize("name", sorted(HEADS))
def test_mixed_precision_stays_finite_float32(rng, name):
    keras.config.set_dtype_policy("mixed_float16")
    head = HEADS[name]()
    dense = keras.layers.Dense(5)
    x = rng.normal(size=(6, 5)).astype("float32")
    y = rng.integers(0, 4, size=6).astype("int32")
    with tf.GradientTape() as tape:
        features = dense(x)
        assert features.dtype == tf.float16
        logits = head(features, labels=y, training=True)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
    assert logits.dtype == tf.float32 and np.isfinite(loss.numpy())
    grads = tape.gradient(loss, head.trainable_weights + dense.trainable_weights)
    assert all(np.all(np.isfinite(tf.cast(g, tf.float32).numpy())) for g in grads)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: LSoftmaxDense(3, margin=5), "margin"),
        (lambda: SphereFaceDense(3, margin=0), "margin"),
        (lambda: LSoftmaxDense(3, lambda_base=-1.0), "lambda_base"),
        (lambda: SphereFaceDense(3, lambda_min=-1.0), "lambda_min"),
        (lambda: CosFaceDense(3, scale=0.0), "scale"),
        (lambda: CosFaceDense(3, margin=-0.2), "margin"),
        (lambda: ArcFaceDense(3, scale=-1.0), "scale"),
        (lambda: ArcFaceDense(3, margin=2.0), "margin"),
        (lambda: ArcFaceDense(0), "units"),
    ],
)
def test_invalid_head_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("name", sorted(HEADS))
def test_margin_loss_fit_equals_train_step(rng, name):
    """Stock functional model + MarginLoss(head): one fit step == one TrainStep."""
    x, y = helpers.toy_batch(rng)
    models = []
    for _ in range(2):
        keras.utils.set_random_seed(0)
        backbone = helpers.tiny_backbone()
        head = HEADS[name]()
        models.append((backbone, head, keras.Sequential([backbone, head])))
    (b1, h1, m1), (b2, h2, m2) = models
    m1.compile(optimizer=keras.optimizers.SGD(0.1), loss=MarginLoss(h1))
    m1.fit(x, y, batch_size=len(y), epochs=1, shuffle=False, verbose=0)
    TrainStep(b2, h2, keras.optimizers.SGD(0.1))(x, y)
    helpers.assert_weights_close(m1.get_weights(), m2.get_weights(), atol=1e-5)
