"""The ops against float64 NumPy references and finite differences, on every Keras backend."""

import math

import keras
import numpy as np
import pytest

from tests import reference
from tests.backends.backend_utils import BACKEND
from tests.backends.backend_utils import compiled
from tests.backends.backend_utils import float64
from tests.backends.backend_utils import traced
from tests.backends.backend_utils import value_and_gradients
from tests.backends.backend_utils import value_error_types
from tf_wsoftmax import ops


def make_inputs(rng, batch=5, dim=4, classes=6):
    x = rng.normal(size=(batch, dim))
    w = rng.normal(size=(dim, classes))
    y = rng.integers(0, classes, size=batch).astype("int32")
    y[1] = y[0]  # a repeated label: its gradients add up
    return x, w, y


def _cross_entropy_sum(labels, logits):
    return keras.ops.sum(ops.sparse_softmax_cross_entropy(labels, logits))


# name -> (op on (x, w, y), float64 reference on (x, w, y))
LOGIT_OPS = {
    "normalized": (lambda x, w, y: ops.normalized_logits(x, w), lambda x, w, y: reference.normalized_logits(x, w)),
    "wsoftmax_0.7": (  # "full": the exact gradient of Eq. 1
        lambda x, w, y: ops.wsoftmax_logits(x, w, y, 0.7, bias_gradient="full"),
        lambda x, w, y: reference.wsoftmax_logits(x, w, y, 0.7),
    ),
    "wsoftmax_stop_1.5": (
        lambda x, w, y: ops.wsoftmax_logits(x, w, y, 1.5, bias_gradient="stop"),
        lambda x, w, y: reference.wsoftmax_logits(x, w, y, 1.5),
    ),
    "cosface": (
        lambda x, w, y: ops.cosface_logits(x, w, y, 16.0, 0.35),
        lambda x, w, y: reference.cosface_logits(x, w, y, 16.0, 0.35),
    ),
    "arcface": (
        lambda x, w, y: ops.arcface_logits(x, w, y, 16.0, 0.5),
        lambda x, w, y: reference.arcface_logits(x, w, y, 16.0, 0.5),
    ),
    "lsoftmax_m4": (
        lambda x, w, y: ops.lsoftmax_logits(x, w, y, 4, lambda_=0.5),
        lambda x, w, y: reference.lsoftmax_logits(x, w, y, 4, 0.5),
    ),
    "sphereface_m2": (
        lambda x, w, y: ops.sphereface_logits(x, w, y, 2),
        lambda x, w, y: reference.sphereface_logits(x, w, y, 2),
    ),
}


@pytest.mark.parametrize("name", sorted(LOGIT_OPS))
def test_logits_match_float64_reference(rng, name):
    op, ref = LOGIT_OPS[name]
    x, w, y = make_inputs(rng)
    with float64():
        out = op(x, w, y)
        assert keras.backend.standardize_dtype(out.dtype) == "float64"
        np.testing.assert_allclose(np.asarray(out), ref(x, w, y), rtol=1e-10, atol=1e-10)
    out32 = op(x.astype("float32"), w.astype("float32"), y)
    assert keras.backend.standardize_dtype(out32.dtype) == "float32"
    np.testing.assert_allclose(np.asarray(out32), ref(x, w, y), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", sorted(LOGIT_OPS))
def test_compiled_equals_eager(rng, name):
    op, _ = LOGIT_OPS[name]
    x, w, y = make_inputs(rng)
    x, w = x.astype("float32"), w.astype("float32")
    eager = np.asarray(op(x, w, y))
    np.testing.assert_allclose(np.asarray(compiled(op)(x, w, y)), eager, rtol=1e-5, atol=1e-5)


# The "stop" gradient is not Eq. 1's; it has its own reference (test_wsoftmax_gradient_modes).
@pytest.mark.parametrize("name", sorted(name for name in LOGIT_OPS if not name.startswith("wsoftmax_stop")))
def test_gradients_match_finite_differences(rng, name):
    op, ref = LOGIT_OPS[name]
    x, w, y = make_inputs(rng)
    with float64():
        loss, (grad_x, grad_w) = value_and_gradients(lambda a, b: _cross_entropy_sum(y, op(a, b, y)), x, w)
    ref_loss = lambda a, b: float(reference.softmax_cross_entropy(ref(a, b, y), y).sum())  # noqa: E731
    np.testing.assert_allclose(loss, ref_loss(x, w), rtol=1e-10)
    np.testing.assert_allclose(grad_x, reference.central_differences(lambda v: ref_loss(v, w), x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad_w, reference.central_differences(lambda v: ref_loss(x, v), w), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("alpha", [0.0, 0.7, 1.5])
@pytest.mark.parametrize("bias_gradient", ["full", "stop"])
@pytest.mark.parametrize("wrap", ["eager", "xla"])
def test_wsoftmax_gradient_modes(rng, alpha, bias_gradient, wrap):
    """full: finite differences of Eq. 1's loss; stop: of the loss whose bias and
    norm come from a frozen copy of the kernel (reference.wsoftmax_loss)."""
    x, w, y = make_inputs(rng)
    frozen = w if bias_gradient == "stop" else None

    def loss(a, b):
        return _cross_entropy_sum(y, ops.wsoftmax_logits(a, b, y, alpha, bias_gradient=bias_gradient))

    with float64():
        value, (grad_x, grad_w) = value_and_gradients(compiled(loss) if wrap == "xla" else loss, x, w)
    np.testing.assert_allclose(value, reference.wsoftmax_loss(x, w, y, alpha), rtol=1e-10)
    numeric_x = reference.central_differences(lambda v: reference.wsoftmax_loss(v, w, y, alpha, frozen), x)
    numeric_w = reference.central_differences(lambda v: reference.wsoftmax_loss(x, v, y, alpha, frozen), w)
    np.testing.assert_allclose(grad_x, numeric_x, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(grad_w, numeric_w, rtol=1e-6, atol=1e-7)


def test_wsoftmax_modes_differ_when_alpha_is_positive(rng):
    x, w, y = make_inputs(rng)
    grads = {
        mode: value_and_gradients(
            lambda b: _cross_entropy_sum(y, ops.wsoftmax_logits(x.astype("float32"), b, y, 1.0, mode)),
            w.astype("float32"),
        )[1][0]
        for mode in ("full", "stop")
    }
    assert np.abs(grads["full"] - grads["stop"]).max() > 1e-3


def test_center_loss_and_update_match_reference(rng):
    x = rng.normal(size=(7, 3))
    centers = rng.normal(size=(4, 3))
    y = np.array([0, 0, 1, 3, 3, 3, 1], "int32")  # class 2 absent: its centre must not move
    with float64():
        np.testing.assert_allclose(np.asarray(ops.center_loss(x, centers, y)), reference.center_loss(x, centers, y), rtol=1e-12)
        updated = np.asarray(ops.center_update(x, centers, y, 0.5))
    np.testing.assert_allclose(updated, reference.center_update(x, centers, y, 0.5), rtol=1e-12)
    np.testing.assert_array_equal(updated[2], centers[2])


def test_contrastive_center_loss_and_closed_form_gradient(rng):
    x = rng.normal(size=(6, 3))
    centers = rng.normal(size=(4, 3))
    y = np.array([0, 1, 1, 3, 2, 0], "int32")
    with float64():
        losses = np.asarray(ops.contrastive_center_loss(x, centers, y, 1.0))
        closed_form = np.asarray(ops.contrastive_center_gradient(x, centers, y, 1.0))
        _, (autodiff,) = value_and_gradients(
            lambda c: keras.ops.mean(ops.contrastive_center_loss(x, c, y, 1.0)), centers
        )
    np.testing.assert_allclose(losses, reference.contrastive_center_loss(x, centers, y, 1.0), rtol=1e-12)
    numeric = reference.central_differences(
        lambda c: float(reference.contrastive_center_loss(x, c, y, 1.0).mean()), centers
    )
    np.testing.assert_allclose(closed_form, numeric, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(closed_form, autodiff, rtol=1e-7, atol=1e-10)


BAD_INPUTS = [
    (dict(labels=np.array([0.0, 1.0, 2.0, 0.0])), TypeError, "integer"),
    (dict(labels=np.eye(4, 5, dtype="int32")), ValueError, "rank 1"),
    (dict(features=np.ones((4, 3, 1), "float32")), ValueError, "rank 2"),
    (dict(kernel=np.ones((4, 5), "float32")), ValueError, "Feature dimension 3"),
    (dict(labels=np.array([0, 1, 2], "int32")), ValueError, "batch size"),
    (dict(alpha=-0.1), ValueError, "alpha"),
    (dict(alpha=math.nan), ValueError, "alpha"),
    (dict(bias_gradient="partial"), ValueError, "bias_gradient"),
]


@pytest.mark.parametrize("overrides,error,match", BAD_INPUTS)
def test_bad_input_raises_clear_error(overrides, error, match):
    args = dict(
        features=np.ones((4, 3), "float32"),
        kernel=np.ones((3, 5), "float32"),
        labels=np.array([0, 1, 2, 3], "int32"),
        alpha=1.0,
        bias_gradient="full",
    )
    args.update(overrides)
    with pytest.raises(error, match=match):
        ops.wsoftmax_logits(**args)


@pytest.mark.parametrize("bad_label", [-1, 5])
@pytest.mark.parametrize(
    "op",
    [
        lambda x, w, y: ops.wsoftmax_logits(x, w, y, 1.0),
        lambda x, w, y: ops.wsoftmax_logits(x, w, y, 0.0, "stop"),
        lambda x, w, y: ops.cosface_logits(x, w, y),
        lambda x, w, y: ops.arcface_logits(x, w, y),
        lambda x, w, y: ops.lsoftmax_logits(x, w, y, 2),
        lambda x, w, y: ops.center_loss(x, keras.ops.transpose(w), y),
    ],
    ids=["wsoftmax", "wsoftmax_stop_alpha0", "cosface", "arcface", "lsoftmax", "center"],
)
def test_out_of_range_label_is_never_silently_used(rng, op, bad_label):
    """Eagerly: an error naming the label range. Traced: an error (TensorFlow's
    assertions) or, inside jax.jit where nothing can raise, NaN in that row."""
    x = rng.normal(size=(4, 3)).astype("float32")
    w = rng.normal(size=(3, 5)).astype("float32")
    y = np.array([0, bad_label, 2, 3], "int32")
    with pytest.raises(value_error_types(), match="num_classes"):
        op(x, w, y)
    if BACKEND == "jax":
        out = np.asarray(traced(op)(x, w, y))
        assert np.isnan(out[1]).all() and np.isfinite(out[[0, 2, 3]]).all()
    else:
        with pytest.raises(value_error_types(), match="num_classes"):
            traced(op)(x, w, y)


def test_alpha_tensor_is_checked_where_it_is_known(rng):
    x = rng.normal(size=(4, 3)).astype("float32")
    w = rng.normal(size=(3, 5)).astype("float32")
    y = np.array([0, 1, 2, 3], "int32")
    alpha = np.array(-1.0, "float32")
    with pytest.raises(value_error_types(), match="alpha"):
        ops.wsoftmax_logits(x, w, y, keras.ops.convert_to_tensor(alpha))
    if BACKEND == "jax":  # every negative logit, hence the loss, is NaN
        loss = traced(lambda a: _cross_entropy_sum(y, ops.wsoftmax_logits(x, w, y, a)))(alpha)
        assert np.isnan(np.asarray(loss))
