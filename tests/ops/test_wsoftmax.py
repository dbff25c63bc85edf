import numpy as np
import pytest
import tensorflow as tf

from tests import reference
from tf_wsoftmax import ops


def make_inputs(rng, batch=6, dim=5, classes=7, dtype=np.float64):
    features = rng.normal(size=(batch, dim)).astype(dtype)
    kernel = (rng.normal(size=(dim, classes)) * rng.uniform(0.2, 3.0, size=classes)).astype(dtype)
    labels = rng.integers(0, classes, size=batch).astype(np.int32)
    return features, kernel, labels


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 1.5, 4.0])
def test_matches_float64_reference(rng, alpha):
    x, w, y = make_inputs(rng)
    got = ops.wsoftmax_logits(x, w, y, alpha).numpy()
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, reference.wsoftmax_logits(x, w, y, alpha), rtol=0, atol=1e-10)


@pytest.mark.parametrize("alpha", [0.0, 1.0, 1.5])
def test_matches_reference_in_float32(rng, alpha):
    x, w, y = make_inputs(rng, dtype=np.float32)
    got = ops.wsoftmax_logits(x, w, y, alpha)
    assert got.dtype == tf.float32
    np.testing.assert_allclose(got.numpy(), reference.wsoftmax_logits(x, w, y, alpha), rtol=1e-5, atol=1e-5)


def test_alpha_zero_is_cross_entropy_on_normalized_logits(rng):
    x, w, y = make_inputs(rng)
    logits = ops.wsoftmax_logits(x, w, y, 0.0)
    np.testing.assert_allclose(logits.numpy(), ops.normalized_logits(x, w).numpy(), atol=1e-12)
    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits).numpy()
    expected = reference.softmax_cross_entropy(reference.normalized_logits(x, w), y)
    np.testing.assert_allclose(loss, expected, atol=1e-10)


def test_positive_logit_is_unchanged_and_negatives_grow_with_alpha(rng):
    """Biasing negatives towards W_y can only make them harder: for a sample
    with x . W_y > 0, x . W~_j moves towards x . W_y as alpha grows."""
    x, w, y = make_inputs(rng, batch=20)
    unit = w / np.linalg.norm(w, axis=0)
    x = x + 5.0 * unit[:, y].T  # make x . W_y clearly positive
    small = ops.wsoftmax_logits(x, w, y, 0.5).numpy()
    large = ops.wsoftmax_logits(x, w, y, 20.0).numpy()
    target = np.take_along_axis(small, y[:, None], 1)
    np.testing.assert_allclose(target, np.take_along_axis(large, y[:, None], 1), atol=1e-12)
    mask = np.ones_like(small, bool)
    mask[np.arange(len(y)), y] = False
    gap_small = np.abs(target - small)[mask]
    gap_large = np.abs(target - large)[mask]
    assert np.mean(gap_large) < np.mean(gap_small)


@pytest.mark.parametrize("alpha", [0.0, 0.7, 1.0, 2.0])
def test_gradients_match_finite_differences(rng, alpha):
    """The exact gradient of Eq. 1 ("full"; the op's default is the declared "stop")."""
    x, w, y = make_inputs(rng, batch=3, dim=4, classes=5)

    def loss_of_features(features):
        return tf.reduce_sum(
            tf.nn.sparse_softmax_cross_entropy_with_logits(y, ops.wsoftmax_logits(features, w, y, alpha, "full"))
        )

    def loss_of_kernel(kernel):
        return tf.reduce_sum(
            tf.nn.sparse_softmax_cross_entropy_with_logits(y, ops.wsoftmax_logits(x, kernel, y, alpha, "full"))
        )

    for fn, value in ((loss_of_features, x), (loss_of_kernel, w)):
        theoretical, numerical = tf.test.compute_gradient(fn, [tf.constant(value)], delta=1e-6)
        np.testing.assert_allclose(theoretical[0], numerical[0], rtol=1e-5, atol=1e-6)


def _op_gradients(x, w, y, alpha, bias_gradient, wrap=None):
    def loss_and_gradients(features, kernel):
        with tf.GradientTape() as tape:
            tape.watch([features, kernel])
            logits = ops.wsoftmax_logits(features, kernel, y, alpha, bias_gradient=bias_gradient)
            loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        return [loss] + tape.gradient(loss, [features, kernel])

    fn = loss_and_gradients if wrap is None else tf.function(loss_and_gradients, jit_compile=wrap == "xla")
    return [t.numpy() for t in fn(tf.constant(x), tf.constant(w))]


@pytest.mark.parametrize("alpha", [0.0, 0.7, 1.5, 3.0])
@pytest.mark.parametrize("bias_gradient", ["full", "stop"])
def test_mode_gradients_match_finite_differences_of_float64_reference(rng, alpha, bias_gradient):
    """full: finite differences of Eq. 1's loss. stop: finite differences of
    the loss whose bias alpha W_y and norm ||W_j + alpha W_y|| come from a
    frozen copy W0 of the kernel, taken at W = W0 (reference.wsoftmax_loss)."""
    x, w, y = make_inputs(rng, batch=4, dim=4, classes=5)
    frozen = w if bias_gradient == "stop" else None
    y[1] = y[0]  # a repeated label: its gradients add up
    numeric_x = reference.central_differences(lambda v: reference.wsoftmax_loss(v, w, y, alpha, frozen), x)
    numeric_w = reference.central_differences(lambda v: reference.wsoftmax_loss(x, v, y, alpha, frozen), w)
    for wrap in (None, "xla"):  # XLA takes another gradient path for the W_y gather
        loss, grad_x, grad_w = _op_gradients(x, w, y, alpha, bias_gradient, wrap)
        np.testing.assert_allclose(loss, reference.wsoftmax_loss(x, w, y, alpha), rtol=1e-12)
        np.testing.assert_allclose(grad_x, numeric_x, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(grad_w, numeric_w, rtol=1e-6, atol=1e-7)


def test_modes_differ_only_in_the_kernel_gradient(rng):
    """Same forward value bit for bit and the same feature gradient; the
    kernel gradients differ for alpha > 0 (and coincide at alpha = 0)."""
    for dtype in (np.float32, np.float64):
        x, w, y = make_inputs(rng, dtype=dtype)
        full = _op_gradients(x, w, y, 1.0, "full")
        stop = _op_gradients(x, w, y, 1.0, "stop")
        full_logits = ops.wsoftmax_logits(x, w, y, 1.0, bias_gradient="full").numpy()
        np.testing.assert_array_equal(ops.wsoftmax_logits(x, w, y, 1.0, bias_gradient="stop").numpy(), full_logits)
        np.testing.assert_array_equal(stop[0], full[0])
        np.testing.assert_allclose(stop[1], full[1], rtol=1e-5, atol=1e-6)
        assert np.abs(stop[2] - full[2]).max() > 1e-3
        at_zero = [_op_gradients(x, w, y, 0.0, mode)[2] for mode in ("full", "stop")]
        np.testing.assert_allclose(at_zero[0], at_zero[1], rtol=1e-6, atol=1e-7)


def test_stop_mode_kernel_gradient_of_own_class_comes_from_positive_logit_only(rng):
    """One sample of class y: in "stop" mode W_y's gradient is that of
    x . W_y / ||W_y|| times (p_y - 1), nothing from the negatives."""
    x, w, y = make_inputs(rng, batch=1, dim=4, classes=5)
    _, _, grad_w = _op_gradients(x, w, y, 2.0, "stop")
    logits = reference.wsoftmax_logits(x, w, y, 2.0)[0]
    probabilities = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    column = w[:, y[0]]
    norm = np.linalg.norm(column)
    # d(x . W/|W|)/dW = (x - (x . u) u) / |W|, u = W/|W|
    unit = column / norm
    expected = (probabilities[y[0]] - 1.0) * (x[0] - (x[0] @ unit) * unit) / norm
    np.testing.assert_allclose(grad_w[:, y[0]], expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("bias_gradient", ["full", "stop"])
def test_mode_gradients_agree_eager_function_and_xla(rng, bias_gradient):
    x, w, y = make_inputs(rng, dtype=np.float32)
    eager = _op_gradients(x, w, y, 1.5, bias_gradient)
    for wrap in ("function", "xla"):
        for got, want in zip(_op_gradients(x, w, y, 1.5, bias_gradient, wrap), eager):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _matmuls_in_gradient_graph(bias_gradient, batch=8, dim=16, classes=32):
    def loss_and_gradients(features, kernel, labels):
        with tf.GradientTape() as tape:
            tape.watch([features, kernel])
            logits = ops.wsoftmax_logits(features, kernel, labels, 1.0, bias_gradient=bias_gradient)
            loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
        return tape.gradient(loss, [features, kernel])

    graph = tf.function(loss_and_gradients).get_concrete_function(
        tf.TensorSpec((batch, dim)), tf.TensorSpec((dim, classes)), tf.TensorSpec((batch,), tf.int32)
    ).graph
    big = batch * dim * classes
    products = 0
    for op in graph.get_operations():
        if op.type in ("MatMul", "BatchMatMulV2"):
            a, b = (t.shape for t in op.inputs)
            # every matmul here multiplies a (.., B or d or K) pair: count those of B*K*d flops
            flops = a.num_elements() * b[-1] if not op.get_attr("transpose_b") else a.num_elements() * b[0]
            products += flops >= big
    return products


def test_stop_mode_needs_four_batch_by_classes_products_and_full_six():
    """The cost claim of the two modes, read off the traced graph: normalised
    softmax needs 3 (B, d) x (d, K)-sized products (forward, two backward),
    "stop" adds only the forward cosines W_y . W (4), "full" also their two
    backward products (6)."""
    assert _matmuls_in_gradient_graph("stop") == 4
    assert _matmuls_in_gradient_graph("full") == 6


def test_antipodal_class_weights_alpha_one_are_finite():
    """W_j = -W_y with alpha = 1 makes W_j + alpha W_y the zero vector; like
    l2_normalize(0) its logit is 0, and values and gradients stay finite."""
    kernel = tf.constant([[1.0, -1.0, 0.0], [0.0, 0.0, 2.0]])
    features = tf.constant([[0.3, -0.2], [1.0, 1.0]])
    labels = tf.constant([0, 1])
    with tf.GradientTape() as tape:
        tape.watch([features, kernel])
        logits = ops.wsoftmax_logits(features, kernel, labels, 1.0)
        loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    grads = tape.gradient(loss, [features, kernel])
    assert np.all(np.isfinite(logits.numpy()))
    assert logits.numpy()[0, 1] == 0.0 and logits.numpy()[1, 0] == 0.0
    np.testing.assert_allclose(
        logits.numpy(), reference.wsoftmax_logits(features.numpy(), kernel.numpy(), labels.numpy(), 1.0), atol=1e-6
    )
    for g in grads:
        assert np.all(np.isfinite(g.numpy()))


def test_zero_features_give_uniform_logits_and_finite_gradients(rng):
    _, w, y = make_inputs(rng, dtype=np.float32)
    x = tf.zeros((len(y), w.shape[0]))
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(y, ops.wsoftmax_logits(x, w, y, 1.0))
        )
    np.testing.assert_allclose(loss.numpy(), np.log(w.shape[1]), rtol=1e-6)
    assert np.all(np.isfinite(tape.gradient(loss, x).numpy()))


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
def test_half_precision_inputs_compute_in_float32(rng, dtype):
    x, w, y = make_inputs(rng, dtype=np.float32)
    x_half, w_half = tf.cast(x, dtype), tf.cast(w, dtype)
    with tf.GradientTape() as tape:
        tape.watch([x_half, w_half])
        logits = ops.wsoftmax_logits(x_half, w_half, y, 1.5)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
    assert logits.dtype == tf.float32
    expected = reference.wsoftmax_logits(
        tf.cast(x_half, tf.float64).numpy(), tf.cast(w_half, tf.float64).numpy(), y, 1.5
    )
    np.testing.assert_allclose(logits.numpy(), expected, rtol=1e-5, atol=1e-5)
    for g in tape.gradient(loss, [x_half, w_half]):
        assert g.dtype == dtype and np.all(np.isfinite(tf.cast(g, tf.float32).numpy()))


def test_eager_function_and_xla_agree(rng):
    x, w, y = make_inputs(rng, dtype=np.float32)

    def fn(features, kernel, labels):
        return ops.wsoftmax_logits(features, kernel, labels, 1.0)

    eager = fn(x, w, y).numpy()
    graph = tf.function(fn)(x, w, y).numpy()
    xla = tf.function(fn, jit_compile=True)(x, w, y).numpy()
    np.testing.assert_allclose(graph, eager, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(xla, eager, rtol=1e-5, atol=1e-5)


def test_never_materialises_a_batch_by_classes_by_dim_tensor():
    """O(B K d) like a matmul: no op in the graph outputs more values than
    the (B, K) logits or the (d, K) kernel, so never a (B, K, d) tensor."""
    batch, dim, classes = 8, 16, 32
    fn = tf.function(lambda x, w, y: ops.wsoftmax_logits(x, w, y, 1.0))
    graph = fn.get_concrete_function(
        tf.TensorSpec((batch, dim)), tf.TensorSpec((dim, classes)), tf.TensorSpec((batch,), tf.int32)
    ).graph
    largest = max(
        out.shape.num_elements() or 0 for op in graph.get_operations() for out in op.outputs
    )
    assert largest == max(batch * classes, dim * classes)  # the logits or the kernel itself
    assert largest < batch * classes * dim


BAD_INPUTS = [
    ("label out of range", dict(labels=[0, 1, 7]), "labels"),
    ("negative label", dict(labels=[0, -1, 2]), "labels"),
    ("labels of rank 2", dict(labels=[[0], [1], [2]]), "rank 1"),
    ("one-hot labels", dict(labels=np.eye(7, dtype=np.int32)[[0, 1, 2]]), "rank 1"),
    ("batch mismatch", dict(labels=[0, 1]), "batch size"),
    ("float labels", dict(labels=np.array([0.0, 1.0, 2.0], np.float32)), "integer"),
    ("alpha < 0", dict(alpha=-0.5), "alpha"),
    ("alpha nan", dict(alpha=float("nan")), "alpha"),
    ("alpha inf", dict(alpha=float("inf")), "alpha"),
    ("dim mismatch", dict(features=np.ones((3, 4), np.float32)), "dimension"),
    ("unknown bias_gradient", dict(bias_gradient="partial"), "bias_gradient"),
]


def _call_with(overrides, wrap):
    args = dict(
        features=np.ones((3, 5), np.float32),
        kernel=np.ones((5, 7), np.float32),
        labels=np.array([0, 1, 2], np.int32),
        alpha=1.0,
        bias_gradient="full",
    )
    args.update(overrides)
    labels = args["labels"]
    labels = tf.constant(labels) if not isinstance(labels, np.ndarray) else tf.constant(labels)
    fn = lambda f, k, l: ops.wsoftmax_logits(f, k, l, args["alpha"], args["bias_gradient"])  # noqa: E731
    if wrap:
        fn = tf.function(fn)
    return fn(tf.constant(args["features"]), tf.constant(args["kernel"]), labels)


@pytest.mark.parametrize("wrap", [False, True], ids=["eager", "tf.function"])
@pytest.mark.parametrize("case,overrides,match", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_raises_clear_error(case, overrides, match, wrap):
    with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError), match=match):
        _call_with(overrides, wrap)


def test_dynamic_shapes_are_checked_at_run_time():
    fn = tf.function(
        lambda f, k, l: ops.wsoftmax_logits(f, k, l, 1.0),
        input_signature=[
            tf.TensorSpec((None, None)),
            tf.TensorSpec((None, None)),
            tf.TensorSpec((None,), tf.int32),
        ],
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="batch sizes"):
        fn(tf.ones((3, 5)), tf.ones((5, 7)), tf.constant([0, 1]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="dimension"):
        fn(tf.ones((3, 4)), tf.ones((5, 7)), tf.constant([0, 1, 2]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_classes"):
        fn(tf.ones((3, 5)), tf.ones((5, 7)), tf.constant([0, 1, 9]))


def test_tensor_alpha_is_checked_at_run_time():
    fn = tf.function(lambda a: ops.wsoftmax_logits(tf.ones((2, 3)), tf.ones((3, 4)), [0, 1], a))
    np.testing.assert_allclose(
        fn(tf.constant(1.0)).numpy(), ops.wsoftmax_logits(tf.ones((2, 3)), tf.ones((3, 4)), [0, 1], 1.0)
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="alpha"):
        fn(tf.constant(-1.0))
    with pytest.raises(tf.errors.InvalidArgumentError, match="alpha"):
        fn(tf.constant(float("nan")))
