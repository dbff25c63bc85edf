"""The chunked training objective (`ops.chunked_cross_entropy`) against float64 references, on every backend.

Each head's scoring is checked against the float64 NumPy references of tests/reference.py (the
papers' equations as loops): the loss sum_i r_i CE_i, its gradients by central differences of the
reference (features, kernel, bias), the per-sample values and the arg-max correctness; in one
chunk of rows and in several (including a batch that does not divide into the chunks, so padded
rows), eagerly and compiled. Central differences of a float64 function with step 1e-6: truncation
O(delta^2 f''') ~ 1e-12 and rounding eps / delta ~ 1e-10 relative, so 1e-6 relative to the largest
gradient entry is a bound no correct gradient misses and a wrong one does not meet.
"""

import math

import keras
import numpy as np
import pytest

from tests import reference
from tests.backends.backend_utils import BACKEND
from tests.backends.backend_utils import compiled
from tests.backends.backend_utils import float64
from tests.backends.backend_utils import value_and_gradients
from tf_wsoftmax import ops
from tf_wsoftmax.layers import ArcFaceDense
from tf_wsoftmax.layers import CosFaceDense
from tf_wsoftmax.layers import LSoftmaxDense
from tf_wsoftmax.layers import NormalizedDense
from tf_wsoftmax.layers import SphereFaceDense

S = 8.0
LAM = 0.3


def _lsoftmax_target(z, xn, wn, lam):
    return ops.lsoftmax_target(z, xn, wn, 3, lam)


def _sphereface_target(z, xn, wn, lam):
    return ops.sphereface_target(z, xn, 2, lam)


# name -> (Scoring, float64 training logits (x, w, y), float64 test-time logits (x, w))
CASES = {
    "normalized_softmax": (
        ops.Scoring(normalize_kernel=True),
        lambda x, w, y: reference.normalized_logits(x, w),
        reference.normalized_logits,
    ),
    "wsoftmax_stop_0": (
        ops.Scoring(normalize_kernel=True, alpha=0.0, bias_gradient="stop"),
        lambda x, w, y: reference.wsoftmax_logits(x, w, y, 0.0),
        reference.normalized_logits,
    ),
    "wsoftmax_stop_1.5": (
        ops.Scoring(normalize_kernel=True, alpha=1.5, bias_gradient="stop"),
        lambda x, w, y: reference.wsoftmax_logits(x, w, y, 1.5),
        reference.normalized_logits,
    ),
    "wsoftmax_full_0.7": (
        ops.Scoring(normalize_kernel=True, alpha=0.7, bias_gradient="full"),
        lambda x, w, y: reference.wsoftmax_logits(x, w, y, 0.7),
        reference.normalized_logits,
    ),
    "cosface": (
        ops.Scoring(normalize_features=True, normalize_kernel=True, scale=S, clip=True, target=lambda z, *_: z - S * 0.35),
        lambda x, w, y: reference.cosface_logits(x, w, y, S, 0.35),
        lambda x, w: reference.cosface_logits(x, w, np.zeros(len(x), int), S, 0.0),
    ),
    "arcface": (
        ops.Scoring(
            normalize_features=True, normalize_kernel=True, scale=S, clip=True,
            target=lambda z, *_: S * ops.arcface_target(z / S, 0.5),
        ),
        lambda x, w, y: reference.arcface_logits(x, w, y, S, 0.5),
        lambda x, w: reference.cosface_logits(x, w, np.zeros(len(x), int), S, 0.0),
    ),
    "lsoftmax": (
        ops.Scoring(target=_lsoftmax_target, target_parameters=(LAM,)),
        lambda x, w, y: reference.lsoftmax_logits(x, w, y, 3, LAM),
        lambda x, w: np.asarray(x, np.float64) @ np.asarray(w, np.float64),
    ),
    "sphereface": (
        ops.Scoring(normalize_kernel=True, target=_sphereface_target, target_parameters=(LAM,)),
        lambda x, w, y: reference.sphereface_logits(x, w, y, 2, LAM),
        reference.normalized_logits,
    ),
}
STOP = {"wsoftmax_stop_0": 0.0, "wsoftmax_stop_1.5": 1.5}


def problem(rng, batch=7, dim=4, classes=6):
    x = rng.normal(size=(batch, dim))
    w = rng.normal(size=(dim, classes)) * rng.uniform(0.3, 2.0, size=classes)
    y = rng.integers(0, classes, size=batch).astype("int32")
    y[1] = y[0]  # a repeated label: its gradients add up
    r = rng.uniform(0.2, 1.5, size=batch)  # row weights (sample weights / B)
    return x, w, y, r


def reference_loss(case, x, w, y, r, frozen=None):
    """sum_i r_i CE_i of the float64 reference logits ("stop": the frozen-copy loss of tests/reference.py)."""
    if case in STOP:
        return sum(
            r[i] * reference.wsoftmax_loss(x[i : i + 1], w, y[i : i + 1], STOP[case], frozen) for i in range(len(y))
        )
    return float(np.sum(r * reference.softmax_cross_entropy(CASES[case][1](x, w, y), y)))


def chunked_loss(case, y, max_logits, wrap=None, class_major=False):
    """sum r CE as a function of (x, w (d, K), r); `class_major`: the objective is handed w^T, (K, d)."""
    scoring = CASES[case][0]

    def loss(x, w, r):
        kernel = keras.ops.transpose(w) if class_major else w
        return ops.chunked_cross_entropy(x, kernel, y, r, scoring, max_logits=max_logits, class_major=class_major).loss

    return compiled(loss) if wrap == "compiled" else loss


@pytest.mark.parametrize("class_major", [False, True], ids=["columns", "class_major"])
@pytest.mark.parametrize("chunks", [1, 3, 7])
@pytest.mark.parametrize("case", sorted(CASES))
def test_loss_and_gradients_equal_the_float64_reference(rng, case, chunks, class_major):
    """One chunk of 7 rows, 3 chunks (7 rows padded to 9) and one row per chunk: the same numbers;
    also with the kernel handed class-major, (K, d) (a sampling head's rows), whose gradient is
    then (K, d) (here read back through the transpose)."""
    x, w, y, r = problem(rng)
    max_logits = math.ceil(len(y) * w.shape[1] / chunks)
    assert ops.row_chunks(len(y), w.shape[1], max_logits) == chunks
    with float64():
        value, (grad_x, grad_w, grad_r) = value_and_gradients(
            chunked_loss(case, y, max_logits, class_major=class_major), x, w, r
        )
    frozen = w if case in STOP else None
    np.testing.assert_allclose(value, reference_loss(case, x, w, y, r), rtol=1e-12)
    for grad, numeric in (
        (grad_x, reference.central_differences(lambda v: reference_loss(case, v, w, y, r, frozen), x)),
        (grad_w, reference.central_differences(lambda v: reference_loss(case, x, v, y, r, frozen), w)),
        (grad_r, reference.central_differences(lambda v: reference_loss(case, x, w, y, v, frozen), r)),
    ):
        np.testing.assert_allclose(grad, numeric, rtol=0, atol=1e-6 * np.abs(numeric).max())


@pytest.mark.parametrize("class_major", [False, True], ids=["columns", "class_major"])
@pytest.mark.parametrize("case", ["normalized_softmax", "wsoftmax_full_0.7", "arcface", "lsoftmax"])
def test_compiled_equals_eager_in_float32(rng, case, class_major):
    """XLA (jax.jit, TF jit_compile) and eager: float32 sums in another order, 1e-5 relative."""
    x, w, y, r = (a.astype("float32") if a.dtype == np.float64 else a for a in problem(rng))
    eager = value_and_gradients(chunked_loss(case, y, 14, class_major=class_major), x, w, r)
    xla = value_and_gradients(chunked_loss(case, y, 14, "compiled", class_major=class_major), x, w, r)
    np.testing.assert_allclose(xla[0], eager[0], rtol=1e-5)
    for a, b in zip(xla[1], eager[1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())


@pytest.mark.parametrize("case", sorted(CASES))
def test_per_sample_values_and_the_first_arg_max(rng, case):
    """per_sample is each row's CE; correct is 1 where the label is the test-time logits' first
    arg max. Row 3 has zero features: every logit ties (the angle references are undefined there
    and read as 0), so only label 0 would be correct and its label is 2."""
    scoring, training_logits, test_logits = CASES[case]
    x, w, y, r = problem(rng, batch=8)
    x[3] = 0.0
    y[3] = 2
    x[5] = 4.0 * w[:, y[5]] + 0.3 * rng.normal(size=w.shape[0])  # a row that is surely right (not at angle 0,
    # where ArcFace's sine is floored at sqrt(EPSILON) and its reference's is not)
    with float64():
        result = ops.chunked_cross_entropy(x, w, y, r, scoring, max_logits=12)
    per_sample = np.asarray(result.per_sample)
    rows = np.arange(8) != 3
    expected_losses = reference.softmax_cross_entropy(training_logits(x[rows], w, y[rows]), y[rows])
    np.testing.assert_allclose(per_sample[rows], expected_losses, rtol=1e-12, atol=1e-14)
    assert np.isfinite(per_sample[3])
    with np.errstate(invalid="ignore"):
        expected = (np.argmax(np.nan_to_num(test_logits(x, w)), axis=-1) == y).astype("float32")
    assert expected[3] == 0 and expected[5] == 1
    np.testing.assert_array_equal(np.asarray(result.correct), expected)


def test_softmax_with_a_bias(rng):
    """`keras.layers.Dense`'s logits x W + b: loss and gradients (bias included) by central differences."""
    x, w, y, r = problem(rng)
    b = rng.normal(size=w.shape[1])

    def reference_of(x, w, b):
        return float(np.sum(r * reference.softmax_cross_entropy(x @ w + b, y)))

    with float64():
        value, grads = value_and_gradients(
            lambda x, w, b: ops.chunked_cross_entropy(x, w, y, r, ops.Scoring(), bias=b, max_logits=10).loss, x, w, b
        )
    np.testing.assert_allclose(value, reference_of(x, w, b), rtol=1e-12)
    for grad, arrays in zip(grads, range(3)):
        def shifted(v, index=arrays):
            args = [x, w, b]
            args[index] = v
            return reference_of(*args)

        numeric = reference.central_differences(shifted, [x, w, b][arrays])
        np.testing.assert_allclose(grad, numeric, rtol=0, atol=1e-6 * np.abs(numeric).max())


@pytest.mark.parametrize("case", ["normalized_softmax", "wsoftmax_full_0.7", "cosface"])
def test_padding_columns_take_no_part(rng, case):
    """Partial FC's padding: the loss is the reference over the real columns; no gradient reaches
    the padding ones."""
    x, w, y, r = problem(rng, classes=8)
    y = y % 5  # the real columns are 0..4, 5..7 are padding
    mask = np.arange(8) < 5
    with float64():
        value, (_, grad_w, _) = value_and_gradients(
            lambda a, b, c: ops.chunked_cross_entropy(a, b, y, c, CASES[case][0], column_mask=mask, max_logits=20).loss,
            x, w, r,
        )
    np.testing.assert_allclose(value, reference_loss(case, x, w[:, :5], y, r), rtol=1e-12)
    assert np.all(grad_w[:, 5:] == 0)


@pytest.mark.parametrize("case", ["wsoftmax_stop_1.5", "cosface", "lsoftmax"])
def test_a_bad_label_inside_a_compiled_step_poisons_the_loss_and_every_gradient(rng, case):
    """Where nothing can raise (jax.jit, XLA), the row of an out-of-range label gets weight NaN:
    the loss and the kernel gradient are NaN, never a silent step on the other rows."""
    x, w, y, r = (a.astype("float32") if a.dtype == np.float64 else a for a in problem(rng))
    y[2] = w.shape[1] + 3
    value, (grad_x, grad_w, _) = value_and_gradients(chunked_loss(case, y, 14, "compiled"), x, w, r)
    assert np.isnan(value) and np.isnan(grad_w).all() and np.isnan(grad_x[2]).all()


def test_half_precision_computes_in_float32_and_returns_gradients_in_the_inputs_dtype(rng):
    x, w, y, r = problem(rng)
    half = "bfloat16" if BACKEND == "jax" else "float16"
    xh = keras.ops.cast(x, half)
    value, (grad_x, grad_w, _) = value_and_gradients(chunked_loss("cosface", y, 14), xh, w.astype("float32"), r.astype("float32"))
    assert value.dtype == np.float32 and keras.backend.standardize_dtype(grad_x.dtype) == half
    expected = reference_loss("cosface", np.asarray(keras.ops.cast(xh, "float64")), w.astype("float32").astype("float64"), y, r)
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    assert np.isfinite(grad_w).all()


# The heads' own scoring, as `training_loss` uses it, against the layers' (B, K) training logits.
HEADS = {
    "wsoftmax_stop": lambda: NormalizedDense(6, alpha=1.5, bias_gradient="stop", dtype="float64"),
    "wsoftmax_full": lambda: NormalizedDense(6, alpha=0.7, bias_gradient="full", dtype="float64"),
    "normalized_softmax": lambda: NormalizedDense(6, alpha=0.0, dtype="float64"),
    "cosface": lambda: CosFaceDense(6, scale=S, dtype="float64"),
    "arcface": lambda: ArcFaceDense(6, scale=S, dtype="float64"),
    "lsoftmax": lambda: LSoftmaxDense(6, margin=3, lambda_base=10.0, lambda_gamma=0.1, lambda_power=1.0, dtype="float64"),
    "sphereface": lambda: SphereFaceDense(6, margin=2, lambda_base=5.0, lambda_min=0.0, dtype="float64"),
}


@pytest.mark.parametrize("name", sorted(HEADS))
def test_training_loss_is_the_cross_entropy_of_the_heads_training_logits(rng, name):
    """`training_loss` (chunked) and `training_pass` (the (B, K) logits of the stock path) of the
    same head at the same step: the same per-sample losses; the schedule moves once per step."""
    x, w, y, r = problem(rng)
    with float64():
        head = HEADS[name]()
        head.build(x.shape)
        head.kernel.assign(w)
        scored = head.training_loss(x, y, r)
        counter = getattr(head, "iterations", None)
        if counter is not None:
            assert int(np.asarray(counter)) == 1
            counter.assign(0)
        logits = np.asarray(head.training_pass(x, y).logits)
    np.testing.assert_allclose(np.asarray(scored.per_sample), reference.softmax_cross_entropy(logits, y), rtol=1e-12)
    np.testing.assert_allclose(float(scored.cross_entropy), np.sum(r * reference.softmax_cross_entropy(logits, y)), rtol=1e-12)


@pytest.mark.parametrize("sample_weight", [None, "vector", "column"])
def test_reduction_weights_are_keras_sum_over_batch_size(rng, sample_weight):
    """sum_i r_i v_i with `reduction_weights` is what Keras' own `Loss` reduction gives for the
    per-sample values v (sample weights (B,) or (B, 1)): the chunked objective reduces as Keras does."""
    from tf_wsoftmax.losses.objective import reduction_weights

    class PerSample(keras.losses.Loss):
        def call(self, y_true, y_pred):
            return y_pred

    values = rng.uniform(0.5, 2.0, size=6).astype("float32")  # positive: no cancellation, 6 eps relative
    weights = {None: None, "vector": rng.uniform(size=6), "column": rng.uniform(size=(6, 1))}[sample_weight]
    weights = None if weights is None else weights.astype("float32")
    expected = float(PerSample()(values, values, weights))
    r = np.asarray(reduction_weights(weights, keras.ops.convert_to_tensor(values[:, None])))
    np.testing.assert_allclose(float(np.sum(r * values)), expected, rtol=1e-6)
