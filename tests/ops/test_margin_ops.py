"""The comparison losses' ops against float64 references written from their papers."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tests import reference
from tf_wsoftmax import ops


def inputs(rng, batch=7, dim=5, classes=6, dtype=np.float64):
    x = (rng.normal(size=(batch, dim)) * 2.0).astype(dtype)
    w = (rng.normal(size=(dim, classes)) * rng.uniform(0.3, 2.0, size=classes)).astype(dtype)
    y = rng.integers(0, classes, size=batch).astype(np.int32)
    return x, w, y


OPS = {
    "lsoftmax": (
        lambda x, w, y: ops.lsoftmax_logits(x, w, y, 4, lambda_=0.5),
        lambda x, w, y: reference.lsoftmax_logits(x, w, y, 4, 0.5),
    ),
    "lsoftmax_m2": (
        lambda x, w, y: ops.lsoftmax_logits(x, w, y, 2),
        lambda x, w, y: reference.lsoftmax_logits(x, w, y, 2),
    ),
    "sphereface": (
        lambda x, w, y: ops.sphereface_logits(x, w, y, 4),
        lambda x, w, y: reference.sphereface_logits(x, w, y, 4),
    ),
    "sphereface_m3_lambda": (
        lambda x, w, y: ops.sphereface_logits(x, w, y, 3, lambda_=2.0),
        lambda x, w, y: reference.sphereface_logits(x, w, y, 3, 2.0),
    ),
    "cosface": (
        lambda x, w, y: ops.cosface_logits(x, w, y, scale=30.0, margin=0.35),
        lambda x, w, y: reference.cosface_logits(x, w, y, 30.0, 0.35),
    ),
    "arcface": (
        lambda x, w, y: ops.arcface_logits(x, w, y, scale=30.0, margin=0.5),
        lambda x, w, y: reference.arcface_logits(x, w, y, 30.0, 0.5),
    ),
    "arcface_big_margin": (
        lambda x, w, y: ops.arcface_logits(x, w, y, scale=8.0, margin=1.2),
        lambda x, w, y: reference.arcface_logits(x, w, y, 8.0, 1.2),
    ),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_matches_float64_reference(rng, name):
    op, ref = OPS[name]
    for _ in range(3):
        x, w, y = inputs(rng)
        np.testing.assert_allclose(op(x, w, y).numpy(), ref(x, w, y), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", sorted(OPS))
def test_float32_and_graph_modes(rng, name):
    op, ref = OPS[name]
    x, w, y = inputs(rng, dtype=np.float32)
    eager = op(x, w, y)
    assert eager.dtype == tf.float32
    scale = max(1.0, np.abs(ref(x, w, y)).max())
    np.testing.assert_allclose(eager.numpy(), ref(x, w, y), rtol=1e-5, atol=1e-5 * scale)
    np.testing.assert_allclose(tf.function(op)(x, w, y).numpy(), eager.numpy(), rtol=1e-6, atol=1e-6 * scale)
    np.testing.assert_allclose(
        tf.function(op, jit_compile=True)(x, w, y).numpy(), eager.numpy(), rtol=1e-5, atol=1e-5 * scale
    )


@pytest.mark.parametrize("margin", [1, 2, 3, 4])
def test_psi_matches_definition_and_is_continuous_decreasing(margin):
    theta = np.linspace(0.0, np.pi, 2001)
    got = ops.multiple_angle_psi(tf.constant(np.cos(theta)), margin).numpy()
    expected = np.array([reference.psi(t, margin) for t in theta])
    np.testing.assert_allclose(got, expected, atol=1e-9)
    assert np.all(np.diff(got) <= 1e-9)  # monotonically decreasing
    assert np.max(np.abs(np.diff(got))) < 0.05  # no jumps at the k boundaries
    np.testing.assert_allclose(got[[0, -1]], [1.0, -2.0 * margin + 1.0], atol=1e-9)


def _two_d_case(theta, dtype=np.float64):
    """Class 0 at angle 0, a sample of class 0 at angle theta, radius 1.7."""
    kernel = np.array([[1.3, 0.2, -0.9], [0.0, 1.1, -0.4]], dtype)
    features = 1.7 * np.array([[np.cos(theta), np.sin(theta)]], dtype)
    return features, kernel, np.array([0], np.int32)


def _gradient_check(fn, features, kernel, labels):
    def of_features(f):
        return tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, fn(f, kernel, labels)))

    def of_kernel(k):
        return tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, fn(features, k, labels)))

    for f, value in ((of_features, features), (of_kernel, kernel)):
        theoretical, numerical = tf.test.compute_gradient(f, [tf.constant(value)], delta=1e-6)
        np.testing.assert_allclose(theoretical[0], numerical[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("k", [0, 1, 2, 3])
@pytest.mark.parametrize("lambda_", [0.0, 1.5])
def test_lsoftmax_gradients_in_every_psi_piece(k, lambda_):
    """m = 4: the target angle lies in [k pi/4, (k+1) pi/4] for each k."""
    features, kernel, labels = _two_d_case((k + 0.5) * np.pi / 4)
    _gradient_check(lambda f, w, y: ops.lsoftmax_logits(f, w, y, 4, lambda_), features, kernel, labels)
    _gradient_check(lambda f, w, y: ops.sphereface_logits(f, w, y, 4, lambda_), features, kernel, labels)


@pytest.mark.parametrize("theta", [0.4, 2.0, 2.9], ids=["cos(t+m)", "cos(t+m) near pi", "fallback"])
def test_arcface_gradients_on_both_sides_of_the_fallback(theta):
    """m = 0.5: t + m <= pi for t < 2.64, the linear fallback beyond."""
    features, kernel, labels = _two_d_case(theta)
    fn = lambda f, w, y: ops.arcface_logits(f, w, y, scale=4.0, margin=0.5)  # noqa: E731
    _gradient_check(fn, features, kernel, labels)
    expected = reference.arcface_logits(features, kernel, labels, 4.0, 0.5)
    np.testing.assert_allclose(fn(features, kernel, labels).numpy(), expected, atol=1e-10)


def test_arcface_target_is_monotonic_across_the_fallback():
    """cos(t + m) would rise again past t = pi - m; the fallback
    cos t - m sin(pi - m) keeps the target decreasing in t over [0, pi]
    (it steps down at the threshold, as in the reference implementations)."""
    m = 0.5
    theta = np.linspace(0.0, np.pi, 4001)
    values = ops.arcface_target(tf.constant(np.cos(theta)), m).numpy()
    assert np.all(np.diff(values) <= 1e-12)
    past = theta > np.pi - m
    np.testing.assert_allclose(values[past], np.cos(theta[past]) - m * np.sin(np.pi - m), atol=1e-12)
    np.testing.assert_allclose(values[~past], np.cos(theta[~past] + m), atol=1e-6)


def test_cosface_gradients():
    features, kernel, labels = _two_d_case(1.0)
    _gradient_check(lambda f, w, y: ops.cosface_logits(f, w, y, scale=4.0, margin=0.35), features, kernel, labels)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda x, w, y: ops.lsoftmax_logits(x, w, y, 5), "margin"),
        (lambda x, w, y: ops.lsoftmax_logits(x, w, y, 0), "margin"),
        (lambda x, w, y: ops.lsoftmax_logits(x, w, y, 2.5), "margin"),
        (lambda x, w, y: ops.sphereface_logits(x, w, y, True), "margin"),
        (lambda x, w, y: ops.lsoftmax_logits(x, w, y, 4, lambda_=-1.0), "lambda_"),
        (lambda x, w, y: ops.cosface_logits(x, w, y, scale=0.0), "scale"),
        (lambda x, w, y: ops.cosface_logits(x, w, y, scale=-3.0), "scale"),
        (lambda x, w, y: ops.cosface_logits(x, w, y, margin=-0.1), "margin"),
        (lambda x, w, y: ops.arcface_logits(x, w, y, scale=float("inf")), "scale"),
        (lambda x, w, y: ops.arcface_logits(x, w, y, margin=math.pi / 2), "margin"),
        (lambda x, w, y: ops.arcface_logits(x, w, [0, 0, 9], scale=1.0), "labels"),
    ],
)
def test_invalid_hyperparameters(call, match):
    x = np.ones((3, 2), np.float32)
    w = np.ones((2, 4), np.float32)
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match=match):
        call(x, w, [0, 1, 2])


@pytest.mark.parametrize("name", ["lsoftmax", "sphereface", "cosface", "arcface"])
def test_zero_features_stay_finite(name):
    op, _ = OPS[name]
    x = tf.zeros((2, 5))
    w = tf.random.normal((5, 6), seed=1)
    y = tf.constant([0, 3])
    with tf.GradientTape() as tape:
        tape.watch([x, w])
        loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(y, op(x, w, y)))
    assert np.isfinite(loss.numpy())
    for g in tape.gradient(loss, [x, w]):
        assert np.all(np.isfinite(g.numpy()))


def test_lambda_schedule():
    for it in [0, 10, 5000, 100000]:
        expected = max(0.0, 1000.0 * (1 + 2.5e-5 * it) ** -35)
        np.testing.assert_allclose(float(ops.lsoftmax_lambda(it)), expected, rtol=1e-5)
    assert float(ops.lsoftmax_lambda(10**7, base=1000, gamma=0.12, power=1, lambda_min=5)) == 5.0


# Centre losses -------------------------------------------------------------


def test_center_loss_and_contrastive_match_reference(rng):
    x = rng.normal(size=(9, 4))
    c = rng.normal(size=(3, 4))
    y = rng.integers(0, 3, size=9).astype(np.int32)
    np.testing.assert_allclose(ops.center_loss(x, c, y).numpy(), reference.center_loss(x, c, y), atol=1e-12)
    for delta in (1.0, 0.1):
        np.testing.assert_allclose(
            ops.contrastive_center_loss(x, c, y, delta).numpy(),
            reference.contrastive_center_loss(x, c, y, delta),
            atol=1e-12,
        )
    np.testing.assert_allclose(
        ops.center_update(x, c, y, 0.5).numpy(), reference.center_update(x, c, y, 0.5), atol=1e-12
    )


def test_center_update_hand_computed_example():
    """c0 = (0,0), c1 = (1,1), c2 = (7,7); x = (2,0), (0,2) of class 0 and (5,5) of class 1; alpha 0.5.

    class 0: n = 2, sum (c0 - x) = (-2,-2), delta = (-2,-2)/3, c0 <- (1/3, 1/3)
    class 1: n = 1, sum (c1 - x) = (-4,-4), delta = (-2,-2),   c1 <- (2, 2)
    class 2: absent, unchanged.
    """
    centers = np.array([[0.0, 0.0], [1.0, 1.0], [7.0, 7.0]])
    features = np.array([[2.0, 0.0], [0.0, 2.0], [5.0, 5.0]])
    new = ops.center_update(features, centers, [0, 0, 1], 0.5).numpy()
    np.testing.assert_allclose(new, [[1 / 3, 1 / 3], [2.0, 2.0], [7.0, 7.0]], atol=1e-12)


def test_center_gradients(rng):
    x = rng.normal(size=(5, 3))
    c = rng.normal(size=(4, 3))
    y = np.array([0, 1, 1, 3, 2], np.int32)
    for fn in (
        lambda f, k: tf.reduce_sum(ops.center_loss(f, k, y)),
        lambda f, k: tf.reduce_sum(ops.contrastive_center_loss(f, k, y, 1.0)),
    ):
        theoretical, numerical = tf.test.compute_gradient(fn, [tf.constant(x), tf.constant(c)], delta=1e-6)
        for t, n in zip(theoretical, numerical):
            np.testing.assert_allclose(t, n, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda x, c, y: ops.contrastive_center_loss(x, c, y, delta=0.0), "delta"),
        (lambda x, c, y: ops.contrastive_center_loss(x, c, y, delta=-1.0), "delta"),
        (lambda x, c, y: ops.center_update(x, c, y, -0.5), "alpha"),
        (lambda x, c, y: ops.center_loss(x, c[:, :1], y), "dimension"),
        (lambda x, c, y: ops.center_loss(x, c, [0, 1, 5]), "labels"),
    ],
)
def test_invalid_center_arguments(call, match):
    x = np.ones((3, 2), np.float32)
    c = np.zeros((4, 2), np.float32)
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match=match):
        call(x, c, [0, 1, 2])
