"""Partial FC (class sampling) of the normalised heads, on every Keras backend.

The references are float64 NumPy (tests/reference.py) over the sampled
columns with the labels remapped to positions among them; the drawn set
itself is checked for its defining properties (every batch class, distinct,
round(rate K) in all, uniform over the rest).
"""

import keras
import numpy as np
import pytest

from tests import reference
from tests.backends.backend_utils import BACKEND
from tests.backends.backend_utils import float64
from tests.backends.backend_utils import traced
from tests.backends.backend_utils import value_and_gradients
from tf_wsoftmax import ops
from tf_wsoftmax.declarations import default_of
from tf_wsoftmax.layers import ArcFaceDense
from tf_wsoftmax.layers import CosFaceDense
from tf_wsoftmax.layers import LSoftmaxDense
from tf_wsoftmax.layers import NormalizedDense
from tf_wsoftmax.losses import MarginLoss
from tf_wsoftmax.losses import compute_objective
from tf_wsoftmax.training import LazyColumns
from tf_wsoftmax.training import LazyColumnSGD
from tf_wsoftmax.training import MarginClassifier
from tf_wsoftmax.training import paper_kernel_regularizer

ALPHA = 1.0
S, M_COS, M_ARC = default_of("cosface", "scale"), default_of("cosface", "cosine_margin"), default_of("arcface", "angular_margin")

# name -> (head factory, float64 reference logits (features, kernel, labels))
CASES = {
    "wsoftmax_stop": (
        lambda k, **kw: NormalizedDense(k, alpha=ALPHA, bias_gradient="stop", **kw),
        lambda x, w, y: reference.wsoftmax_logits(x, w, y, ALPHA),
    ),
    "wsoftmax_full": (
        lambda k, **kw: NormalizedDense(k, alpha=ALPHA, bias_gradient="full", **kw),
        lambda x, w, y: reference.wsoftmax_logits(x, w, y, ALPHA),
    ),
    "normalized_softmax": (
        lambda k, **kw: NormalizedDense(k, alpha=0.0, **kw), lambda x, w, y: reference.normalized_logits(x, w)
    ),
    "cosface": (lambda k, **kw: CosFaceDense(k, **kw), lambda x, w, y: reference.cosface_logits(x, w, y, S, M_COS)),
    "arcface": (lambda k, **kw: ArcFaceDense(k, **kw), lambda x, w, y: reference.arcface_logits(x, w, y, S, M_ARC)),
}
SEED = 7


def objective_and_gradients(head, features, kernel, labels):
    """The objective's loss and its gradients in (features, kernel), with the (d, K) kernel as an input
    (a class-sampling head stores it transposed, class-major: `MarginHead.class_major`)."""
    if not head.built:
        head.build(features.shape)

    def loss(x, w):
        with keras.StatelessScope(state_mapping=[(head.kernel, keras.ops.transpose(w) if head.class_major else w)]):
            return compute_objective(head, x, labels)["loss"]  # float64 problems: a float64 loss

    return value_and_gradients(loss, features, kernel)


def drawn_set(head, labels, step=0):
    """The classes and remapped labels of the head's draw at `step` (NumPy)."""
    classes, remapped, valid = ops.sample_classes(
        keras.ops.convert_to_tensor(labels, "int32"), head.units, head.num_sampled, head.sample_seed, step
    )
    assert valid is None
    return np.asarray(classes), np.asarray(remapped)


def problem(rng, classes=20, dim=4, batch=4):
    features = rng.normal(size=(batch, dim))
    kernel = rng.normal(size=(dim, classes))
    labels = rng.choice(classes, size=batch, replace=False).astype("int32")
    return features, kernel, labels


@pytest.mark.parametrize("case", CASES)
def test_rate_one_is_the_full_head_exactly(rng, case):
    make, _ = CASES[case]
    x, w, y = (a.astype("float32") if a.dtype == np.float64 else a for a in problem(rng))
    full = objective_and_gradients(make(20), x, w, y)
    rate_one = objective_and_gradients(make(20, sample_rate=1.0), x, w, y)
    assert float(full[0]) == float(rate_one[0])
    for a, b in zip(full[1], rate_one[1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("case", CASES)
def test_a_sample_of_every_class_is_the_full_head(rng, case):
    """rate 0.98 of K = 20 rounds to 20 columns: the sampled path over a permutation of all K.

    float64: the two sums differ only in order, so they agree to a few ulps of the loss (bound
    K * eps relative) and gradient entries to K * eps times the largest entry.
    """
    make, _ = CASES[case]
    x, w, y = problem(rng)
    with float64():
        full = objective_and_gradients(make(20, dtype="float64"), x, w, y)
        head = make(20, sample_rate=0.98, sample_seed=SEED, dtype="float64")
        assert head.num_sampled == 20
        sampled = objective_and_gradients(head, x, w, y)
    eps = np.finfo("float64").eps
    np.testing.assert_allclose(sampled[0], full[0], rtol=20 * eps)
    for a, b in zip(sampled[1], full[1]):
        np.testing.assert_allclose(a, b, rtol=0, atol=20 * eps * np.abs(b).max())


@pytest.mark.parametrize("case", CASES)
def test_sampled_loss_and_gradients_equal_the_float64_reference_over_the_sampled_set(rng, case):
    """rate 0.3 of K = 20: 6 columns. Loss to 1e-12 relative; kernel gradient by central
    differences of the reference (error O(delta^2) ~ 1e-12 plus rounding eps / delta ~ 1e-10, so
    1e-6 relative to the largest entry), exactly zero outside the sampled columns."""
    make, reference_logits = CASES[case]
    x, w, y = problem(rng)
    with float64():
        head = make(20, sample_rate=0.3, sample_seed=SEED, dtype="float64")
        loss, (_, kernel_gradient) = objective_and_gradients(head, x, w, y)
        classes, remapped = drawn_set(head, y)
    assert len(classes) == 6
    np.testing.assert_array_equal(classes[remapped], y)

    def reference_loss(sub_kernel):
        return float(reference.softmax_cross_entropy(reference_logits(x, sub_kernel, remapped), remapped).mean())

    np.testing.assert_allclose(loss, reference_loss(w[:, classes]), rtol=1e-12)
    unsampled = np.setdiff1d(np.arange(20), classes)
    assert np.all(kernel_gradient[:, unsampled] == 0)
    if case == "wsoftmax_stop":
        return  # its gradient is not the derivative of Eq. 1 (tests/ops/test_wsoftmax.py checks it)
    numeric = reference.central_differences(reference_loss, w[:, classes])
    scale = np.abs(numeric).max()
    np.testing.assert_allclose(kernel_gradient[:, classes], numeric, rtol=0, atol=1e-6 * scale)


def test_the_draw_keeps_the_batch_classes_and_samples_the_rest_uniformly():
    """K = 50, 4 batch classes, 15 kept: each other class is drawn with p = 11/46 per step. Over
    400 steps a class's count is Binomial(400, p) (sd 8.5); every count lies within 5 sd."""
    labels = keras.ops.convert_to_tensor(np.array([3, 9, 3, 40], "int32"))
    draw = traced(lambda step: ops.sample_classes(labels, 50, 15, SEED, step)[:2])
    counts = np.zeros(50)
    for step in range(400):
        classes, remapped = (np.asarray(a) for a in draw(keras.ops.convert_to_tensor(step, "int32")))
        assert len(set(classes.tolist())) == 15
        assert {3, 9, 40} <= set(classes.tolist())
        np.testing.assert_array_equal(classes[remapped], [3, 9, 3, 40])
        counts[classes] += 1
    others = np.setdiff1d(np.arange(50), [3, 9, 40])
    p = 12 / 47
    assert np.all(counts[[3, 9, 40]] == 400)
    assert np.all(np.abs(counts[others] - 400 * p) < 5 * np.sqrt(400 * p * (1 - p)))


def test_the_draw_is_a_function_of_seed_and_step_eagerly_and_compiled():
    labels = keras.ops.convert_to_tensor(np.array([1, 2], "int32"))
    eager = np.asarray(ops.sample_classes(labels, 30, 8, SEED, 5)[0])
    compiled = np.asarray(traced(lambda s: ops.sample_classes(labels, 30, 8, SEED, s)[0])(keras.ops.convert_to_tensor(5)))
    np.testing.assert_array_equal(eager, compiled)
    assert not np.array_equal(eager, np.asarray(ops.sample_classes(labels, 30, 8, SEED, 6)[0]))
    assert not np.array_equal(eager, np.asarray(ops.sample_classes(labels, 30, 8, SEED + 1, 5)[0]))


def test_more_batch_classes_than_the_rate_keeps_them_all_and_pads_the_rest(rng):
    """K = 20, rate 0.1 (2 columns), B = 8 with 5 distinct classes: 5 real columns of W = 8; the
    3 padding columns take no part in the softmax (the loss is the reference over the 5)."""
    x = rng.normal(size=(8, 4))
    w = rng.normal(size=(4, 20))
    y = np.array([0, 1, 2, 3, 4, 0, 1, 2], "int32")
    with float64():
        head = NormalizedDense(20, alpha=0.0, sample_rate=0.1, sample_seed=SEED, dtype="float64")
        head.build(x.shape)
        head.kernel.assign(w.T)  # class-major
        head_pass = head.training_pass(x, y)
        logits, remapped = np.asarray(head_pass.logits), np.asarray(head_pass.labels)
        head.iterations.assign(0)  # the same draw again
        outputs = compute_objective(head, x, y)
    assert logits.shape == (8, 8)
    real = logits[0] != ops.PADDING_LOGIT
    assert real.sum() == 5 and np.all(real[:5])
    expected = reference.softmax_cross_entropy(reference.normalized_logits(x, w[:, :5]), y).mean()
    np.testing.assert_array_equal(remapped < 5, True)
    assert sorted(set(remapped.tolist())) == list(range(5))
    np.testing.assert_allclose(float(outputs["cross_entropy"]), expected, rtol=1e-12)


def classifier(make_head, optimizer=None):
    """Backbone + the head `make_head()` makes, seeded alike (initialisers draw their seeds when made)."""
    keras.utils.set_random_seed(0)
    head = make_head()
    backbone = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, name="fc")], name="backbone")
    model = MarginClassifier(backbone, head, name="classifier")
    model.compile(optimizer=optimizer or LazyColumnSGD(0.1, momentum=0.9), metrics=["accuracy"])
    return model


def kernel_of(model):
    """The head's class vectors as (d, K) columns (its kernel is class-major, (K, d))."""
    return np.asarray(model.head.class_vectors())


def momentum_of(model):
    """The kernel's momentum, as `kernel_of` lays it out."""
    return momentum_slot(model.optimizer).T


def sampled_columns(model, labels, step):
    head = model.head
    classes, _, _ = ops.sample_classes(
        keras.ops.convert_to_tensor(labels, "int32"), head.units, head.num_sampled, int(np.asarray(head.sample_seed_weight)), step
    )
    return np.asarray(classes)


@pytest.mark.parametrize("case", CASES)
def test_unsampled_columns_and_their_momentum_do_not_move(rng, case):
    """Momentum SGD 0.9 with the paper's L2 weight decay on the head: after step 1 every sampled
    column has momentum; step 2 must leave the columns it did not sample exactly as step 1 left
    them (value and momentum), and move every column it sampled."""
    make, _ = CASES[case]
    x = rng.normal(size=(16, 6)).astype("float32")
    y = rng.integers(0, 64, 16).astype("int32")
    model = classifier(lambda: make(64, sample_rate=0.2, kernel_regularizer=paper_kernel_regularizer(), name="head"))
    model.fit(x[:8], y[:8], batch_size=8, epochs=1, verbose=0, shuffle=False)
    kernel_1, momentum_1 = kernel_of(model), momentum_of(model)
    first = sampled_columns(model, y[:8], 0)
    assert np.all(np.abs(momentum_1[:, first]).sum(0) > 0)
    never = np.setdiff1d(np.arange(64), first)
    assert np.all(momentum_1[:, never] == 0)
    model.fit(x[8:], y[8:], batch_size=8, epochs=1, verbose=0, shuffle=False)
    kernel_2, momentum_2 = kernel_of(model), momentum_of(model)
    second = sampled_columns(model, y[8:], 1)
    left = np.setdiff1d(np.arange(64), second)
    assert len(np.intersect1d(left, first)) > 0  # columns with momentum that step 2 did not sample
    np.testing.assert_array_equal(kernel_2[:, left], kernel_1[:, left])
    np.testing.assert_array_equal(momentum_2[:, left], momentum_1[:, left])
    assert np.all(np.abs(kernel_2[:, second] - kernel_1[:, second]).sum(0) > 0)


def momentum_slot(optimizer):
    """The head kernel's momentum as stored: (K, d), class-major."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    return next(np.asarray(v) for v in inner.variables if v.path.endswith("head_kernel_momentum"))


@pytest.mark.parametrize("policy", ["float32", "mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("path", ["fit", "train_step"])
def test_unsampled_columns_stay_frozen_on_every_training_path_and_policy(rng, policy, path):
    """`MarginClassifier.fit` (under mixed_float16 Keras wraps the optimizer in a LossScaleOptimizer)
    and TrainStep: two steps; the columns step 2 did not sample keep step 1's value and momentum."""
    if path == "train_step" and BACKEND != "tensorflow":
        pytest.skip("TrainStep is TensorFlow")
    keras.config.set_dtype_policy(policy)
    x = rng.normal(size=(16, 6)).astype("float32")
    y = rng.integers(0, 64, 16).astype("int32")
    model = classifier(lambda: NormalizedDense(64, alpha=ALPHA, sample_rate=0.2, sample_seed=SEED, name="head"))
    if path == "fit":
        train = lambda xs, ys: model.fit(xs, ys, batch_size=8, epochs=1, verbose=0, shuffle=False)  # noqa: E731
    else:
        from tf_wsoftmax.training import TrainStep

        step = TrainStep(model.backbone, model.head, model.optimizer)
        train = lambda xs, ys: step(xs, ys)  # noqa: E731
    if policy == "mixed_float16":
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    train(x[:8], y[:8])
    kernel_1, momentum_1 = kernel_of(model), momentum_of(model)
    train(x[8:], y[8:])
    left = np.setdiff1d(np.arange(64), sampled_columns(model, y[8:], 1))
    moved = np.setdiff1d(sampled_columns(model, y[:8], 0), sampled_columns(model, y[8:], 1))
    assert len(moved) > 0 and np.all(np.abs(momentum_1[:, moved]).sum(0) > 0)  # they had momentum to move by
    np.testing.assert_array_equal(kernel_of(model)[:, left], kernel_1[:, left])
    np.testing.assert_array_equal(momentum_of(model)[:, left], momentum_1[:, left])
@pytest.mark.parametrize("options", [
    {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True}, {"momentum": 0.0}, {"momentum": 0.9, "weight_decay": 0.01},
], ids=["momentum", "nesterov", "plain", "weight_decay"])
@pytest.mark.parametrize("class_axis", [0, 1], ids=["class_major", "dense_layout"])
def test_lazy_column_sgd_moves_the_touched_classes_as_sgd_and_no_other(rng, options, class_axis):
    """Two steps on a class-major (10, 4) variable (or a (4, 10) one registered with class_axis=1)
    whose gradients are zero for some classes: every touched class ends where `keras.optimizers.SGD`
    puts it (the same expressions: bit for bit), with its momentum; every other class keeps its value
    and momentum from before, also under decoupled weight decay. A class touched in step 1 but not in
    step 2 keeps its step-1 momentum."""
    def laid_out(array):  # class-major (10, 4) arrays to the variable's layout, and back
        return array if class_axis == 0 else array.T

    start = rng.normal(size=(10, 4)).astype("float32")
    gradients = [rng.normal(size=(10, 4)).astype("float32") for _ in range(2)]
    gradients[0][[1, 4, 7]] = 0.0
    gradients[1][[2, 4, 9]] = 0.0
    lazy_variable = keras.Variable(laid_out(start), name="kernel")
    dense_variable = keras.Variable(laid_out(start), name="kernel")
    lazy, dense = LazyColumnSGD(0.1, **options), keras.optimizers.SGD(0.1, **options)
    lazy.lazy_columns([lazy_variable], class_axis=class_axis)
    lazy.build([lazy_variable])
    dense.build([dense_variable])
    momentum = options["momentum"] != 0
    for step, g in enumerate(gradients):
        before = laid_out(np.asarray(lazy_variable))
        momentum_before = laid_out(np.asarray(lazy.momentums[0])) if momentum else None
        dense_variable.assign(laid_out(before))  # SGD from the same point and momentum
        if momentum:
            dense.momentums[0].assign(laid_out(momentum_before))
        lazy.apply([keras.ops.convert_to_tensor(laid_out(g))], [lazy_variable])
        dense.apply([keras.ops.convert_to_tensor(laid_out(g))], [dense_variable])
        touched = np.abs(g).sum(1) > 0
        after = laid_out(np.asarray(lazy_variable))
        np.testing.assert_array_equal(after[touched], laid_out(np.asarray(dense_variable))[touched])
        np.testing.assert_array_equal(after[~touched], before[~touched])
        if momentum:
            kept = laid_out(np.asarray(lazy.momentums[0]))
            np.testing.assert_array_equal(kept[touched], laid_out(np.asarray(dense.momentums[0]))[touched])
            np.testing.assert_array_equal(kept[~touched], momentum_before[~touched])
            if step == 1:
                assert np.abs(kept[2]).sum() > 0  # touched in step 1, kept through step 2
        assert np.abs(after[touched] - before[touched]).min() > 0


def test_lazy_columns_keep_each_variables_class_axis_through_the_config():
    """The axis of the classes is part of a registration: saved in the config, restored from it, and
    a second registration with the other axis (or an axis other than 0 and 1) is refused by name."""
    rows, columns = keras.Variable(np.zeros((10, 4), "float32"), name="rows"), keras.Variable(
        np.zeros((4, 10), "float32"), name="columns")
    optimizer = LazyColumnSGD(0.1, momentum=0.9)
    optimizer.lazy_columns([rows])
    optimizer.lazy_columns([columns], class_axis=1)
    config = optimizer.get_config()
    assert config["lazy_column_paths"] == [rows.path, columns.path] and config["lazy_class_axes"] == [0, 1]
    restored = LazyColumnSGD.from_config(config)
    assert restored.class_axis_of(columns.path) == 1 and restored.class_axis_of(rows.path) == 0
    with pytest.raises(ValueError, match="registered with class_axis=1"):
        optimizer.lazy_columns([columns])
    with pytest.raises(ValueError, match="class_axis"):
        optimizer.lazy_columns([rows], class_axis=2)
    with pytest.raises(ValueError, match="lazy_class_axes"):
        LazyColumnSGD(0.1, lazy_column_paths=["a", "b"], lazy_class_axes=[0])


@pytest.mark.parametrize("options", [
    {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True}, {"momentum": 0.0}, {"momentum": 0.9, "weight_decay": 0.01},
], ids=["momentum", "nesterov", "plain", "weight_decay"])
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_lazy_column_sgd_by_rows_is_the_dense_update(rng, options, compiled):
    """A column step hands `LazyColumnSGD` the (W, d) gradient of W rows of a class-major (K, d)
    kernel and their class ids (`sampled_columns`); two steps end bit for bit where the dense (K, d)
    gradient (zero elsewhere) puts the kernel and its momentum, a sampled row with an all-zero
    gradient included; eagerly and inside XLA (TensorFlow: `scatter_update` of the rows; JAX's
    compiled scatter runs in every `fit` of the tests above)."""
    if compiled and BACKEND != "tensorflow":
        pytest.skip("the optimizer writes Keras variables: compiled here on TensorFlow (XLA)")
    start = rng.normal(size=(10, 4)).astype("float32")
    steps = [np.array([7, 2, 5, 0], "int32"), np.array([2, 9, 4, 6], "int32")]
    gradients = [rng.normal(size=(4, 4)).astype("float32") for _ in steps]
    gradients[0][2] = 0.0  # class 5: drawn, no gradient (padding)
    by_rows, dense = keras.Variable(start, name="kernel"), keras.Variable(start, name="kernel")
    optimizers = [LazyColumnSGD(0.1, **options), LazyColumnSGD(0.1, **options)]
    for optimizer, variable in zip(optimizers, (by_rows, dense)):
        optimizer.lazy_columns([variable])
        optimizer.build([variable])

    def sparse(classes, g):
        with optimizers[0].sampled_columns({by_rows.path: classes}):
            optimizers[0].apply([g], [by_rows])

    def dense_step(g):
        optimizers[1].apply([g], [dense])

    if compiled:  # both in XLA: the same compiler's contractions of the same expressions
        import tensorflow as tf

        sparse, dense_step = tf.function(sparse, jit_compile=True), tf.function(dense_step, jit_compile=True)
    for classes, g in zip(steps, gradients):
        full = np.zeros((10, 4), "float32")
        full[classes] = g
        sparse(keras.ops.convert_to_tensor(classes), keras.ops.convert_to_tensor(g))
        dense_step(keras.ops.convert_to_tensor(full))
        np.testing.assert_array_equal(np.asarray(by_rows), np.asarray(dense))
        for a, b in zip(optimizers[0].variables, optimizers[1].variables):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert np.any(np.asarray(by_rows) != start)


def test_fit_hands_the_optimizer_the_sampled_columns_gradient(rng, monkeypatch):
    """`fit` (and, on TensorFlow, `TrainStep`) differentiate a sampling head's kernel by its sampled
    rows: `LazyColumnSGD` receives a (W, d) gradient for the class-major (K, d) kernel, W = round(rate K)."""
    seen = []
    update_step = LazyColumnSGD.update_step

    def recording(self, gradient, variable, learning_rate):
        seen.append(tuple(gradient.shape))
        return update_step(self, gradient, variable, learning_rate)

    monkeypatch.setattr(LazyColumnSGD, "update_step", recording)
    x = rng.normal(size=(8, 6)).astype("float32")
    y = rng.integers(0, 64, 8).astype("int32")
    model = classifier(lambda: NormalizedDense(64, alpha=ALPHA, sample_rate=0.25, sample_seed=SEED, name="head"))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    assert (16, 8) in seen and (64, 8) not in seen
    if BACKEND == "tensorflow":
        from tf_wsoftmax.training import TrainStep

        seen.clear()
        TrainStep(model.backbone, model.head, model.optimizer)(x, y)
        assert (16, 8) in seen and (64, 8) not in seen


def test_an_optimizer_that_would_move_unsampled_columns_is_refused_on_every_path(rng):
    """Plain momentum SGD would move unsampled columns through their momentum: `MarginClassifier.compile`
    refuses it, naming `LazyColumnSGD`; a `LossScaleOptimizer` around a `LazyColumnSGD` (mixed_float16's
    compile) is looked through and registered."""
    head = lambda: NormalizedDense(64, sample_rate=0.2, kernel_regularizer=paper_kernel_regularizer(), name="head")  # noqa: E731
    with pytest.raises(ValueError, match="LazyColumnSGD"):
        classifier(head, optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    wrapped = keras.optimizers.LossScaleOptimizer(LazyColumnSGD(0.1, momentum=0.9))
    model = classifier(head, optimizer=wrapped)
    assert model.optimizer.inner_optimizer.lazy_column_paths == (model.head.kernel.path,)


@pytest.mark.parametrize("route", ["keras_file", "weights_file"])
def test_a_resumed_run_draws_the_same_classes(rng, tmp_path, route):
    """3 steps in one run == 2 steps, save, load, 1 step: the third step's draw, loss and weights."""
    x = rng.normal(size=(24, 6)).astype("float32")
    y = rng.integers(0, 64, 24).astype("int32")
    make = lambda: classifier(  # noqa: E731
        lambda: ArcFaceDense(64, sample_rate=0.2, sample_seed=SEED, kernel_regularizer=paper_kernel_regularizer(), name="head")
    )
    whole = make()
    whole.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    first = make()
    first.fit(x[:16], y[:16], batch_size=8, epochs=1, verbose=0, shuffle=False)
    if route == "keras_file":
        first.save(tmp_path / "model.keras")
        resumed = keras.models.load_model(tmp_path / "model.keras")
    else:
        first.save_weights(tmp_path / "model.weights.h5")
        keras.utils.set_random_seed(99)  # another seed for the new head (None: drawn): the weights restore it
        fresh = ArcFaceDense(64, sample_rate=0.2, kernel_regularizer=paper_kernel_regularizer(), name="head")
        resumed = classifier(lambda: fresh)
        resumed.load_weights(tmp_path / "model.weights.h5")
        resumed.optimizer.build(resumed.trainable_variables)
        for source, target in zip(first.optimizer.variables, resumed.optimizer.variables):
            target.assign(source)  # save_weights holds the model; the momentum comes along here
    assert int(np.asarray(resumed.head.iterations)) == 2
    np.testing.assert_array_equal(sampled_columns(resumed, y[16:], 2), sampled_columns(whole, y[16:], 2))
    resumed.fit(x[16:], y[16:], batch_size=8, epochs=1, verbose=0, shuffle=False)
    np.testing.assert_allclose(np.asarray(resumed.head.kernel), np.asarray(whole.head.kernel), rtol=0, atol=1e-6)


def test_evaluation_and_prediction_score_every_class(rng):
    x = rng.normal(size=(8, 6)).astype("float32")
    y = rng.integers(0, 64, 8).astype("int32")
    model = classifier(lambda: CosFaceDense(64, sample_rate=0.1, name="head"))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    logits = np.asarray(model.predict(x, verbose=0))
    assert logits.shape == (8, 64)
    features = model.backbone(x)
    np.testing.assert_allclose(logits, np.asarray(ops.cosine_logits(features, model.head.class_vectors())) * S, rtol=1e-5, atol=1e-4)
    outputs = compute_objective(model.head, None, y, training=False, test_logits=logits)
    np.testing.assert_array_equal(np.asarray(outputs["correct"]), (logits.argmax(-1) == y).astype("float32"))


def test_the_stock_margin_loss_refuses_a_sampling_head(rng):
    """`compile(loss=MarginLoss(head))` hands the loss no optimizer, so it could not keep unsampled
    columns frozen: a training step refuses, naming the paths that can."""
    x = rng.normal(size=(8, 6)).astype("float32")
    y = rng.integers(0, 64, 8).astype("int32")
    head = NormalizedDense(64, alpha=ALPHA, sample_rate=0.2, sample_seed=SEED, name="head")
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8), head])
    model.compile(optimizer=LazyColumnSGD(0.1, momentum=0.9), loss=MarginLoss(head))
    with pytest.raises(ValueError, match="MarginClassifier"):
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)


@pytest.mark.parametrize("value", [0.0, -0.1, 1.5, float("nan"), "0.3", True])
def test_sample_rate_outside_the_unit_interval_is_refused(value):
    with pytest.raises(ValueError, match="`sample_rate` must be a finite number in \\(0, 1\\]"):
        NormalizedDense(10, sample_rate=value)


def test_heads_that_cannot_sample_and_bad_seeds_are_refused(rng):
    with pytest.raises(ValueError, match="does not support class sampling"):
        LSoftmaxDense(10, sample_rate=0.5)
    with pytest.raises(ValueError, match="`sample_seed` must be an int"):
        NormalizedDense(10, sample_rate=0.5, sample_seed=-1)
    head = ArcFaceDense(10, sample_rate=0.5)
    x = rng.normal(size=(2, 4)).astype("float32")
    with pytest.raises(ValueError, match="samples classes"):
        head(x, labels=np.array([0, 1]), training=True)


@pytest.mark.parametrize("case", CASES)
def test_a_sampling_head_stores_the_class_vectors_of_a_full_head_as_rows(case):
    """Same seed, rate 1 and rate 0.5: the sampling head's kernel is class-major, (K, d), and its
    `class_vectors()` (d, K) are the full head's kernel exactly (the initializer sees the (d, K)
    view); a head at rate 1 stores Keras' (d, K) and its view is the kernel itself."""
    make, _ = CASES[case]
    keras.utils.set_random_seed(3)
    full = make(12, kernel_initializer=keras.initializers.GlorotUniform(seed=5))
    sampling = make(12, sample_rate=0.5, kernel_initializer=keras.initializers.GlorotUniform(seed=5))
    full.build((None, 4))
    sampling.build((None, 4))
    assert (full.class_major, full.class_axis, tuple(full.kernel.shape)) == (False, 1, (4, 12))
    assert (sampling.class_major, sampling.class_axis, tuple(sampling.kernel.shape)) == (True, 0, (12, 4))
    np.testing.assert_array_equal(np.asarray(sampling.kernel), np.asarray(full.kernel).T)
    np.testing.assert_array_equal(np.asarray(sampling.class_vectors()), np.asarray(full.kernel))
    np.testing.assert_array_equal(np.asarray(full.class_vectors()), np.asarray(full.kernel))


def test_a_kernel_constraint_of_a_sampling_head_applies_to_the_class_vectors(rng):
    """`UnitNorm(axis=0)` asks for unit (d, K) columns; on a class-major kernel it is applied to
    that view, so after a step every class vector has norm 1 (float32 rounding, 1e-6)."""
    x = rng.normal(size=(8, 6)).astype("float32")
    y = rng.integers(0, 64, 8).astype("int32")
    model = classifier(lambda: NormalizedDense(
        64, alpha=ALPHA, sample_rate=0.2, kernel_constraint=keras.constraints.UnitNorm(axis=0), name="head"
    ))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    norms = np.linalg.norm(kernel_of(model), axis=0)
    np.testing.assert_allclose(norms, 1.0, rtol=0, atol=1e-6)


def test_the_config_round_trips_with_the_sampling_arguments():
    head = CosFaceDense(10, sample_rate=0.3, sample_seed=5)
    clone = CosFaceDense.from_config(head.get_config())
    assert (clone.sample_rate, clone.sample_seed, clone.num_sampled, clone.sample_blocks) == (0.3, 5, 3, 1)
    head = NormalizedDense(40, sample_rate=0.3, sample_seed=5, sample_blocks=4)
    clone = NormalizedDense.from_config(head.get_config())
    assert (clone.sample_blocks, clone.num_sampled) == (4, 12)  # 4 blocks of 10 classes, 3 from each


def test_the_draw_per_block_keeps_each_blocks_batch_classes_and_samples_the_rest_of_it_uniformly():
    """K = 50 in 5 blocks of 10, 3 kept per block, a batch of classes 3, 9 (block 0) and 40 (block
    4): block 0 keeps 3 and 9 plus one of its other 8 (p = 1/8 per step), block 4 keeps 40 plus
    two of 9 (p = 2/9), the other blocks three of 10 (p = 3/10). Over 400 steps each count is
    Binomial(400, p); every count lies within 5 sd. The W = 15 entries are the blocks' in order,
    eagerly and compiled alike."""
    labels = keras.ops.convert_to_tensor(np.array([3, 9, 40], "int32"))
    assert ops.num_sampled_classes(0.3, 50, 5) == 15
    draw = traced(lambda step: ops.sample_classes(labels, 50, 15, SEED, step, blocks=5)[:2])
    np.testing.assert_array_equal(
        np.asarray(draw(keras.ops.convert_to_tensor(4, "int32"))[0]),
        np.asarray(ops.sample_classes(labels, 50, 15, SEED, 4, blocks=5)[0]),
    )
    counts = np.zeros(50)
    for step in range(400):
        classes, remapped = (np.asarray(a) for a in draw(keras.ops.convert_to_tensor(step, "int32")))
        assert len(set(classes.tolist())) == 15
        np.testing.assert_array_equal(classes.reshape(5, 3) // 10, np.arange(5)[:, None] @ np.ones((1, 3), int))
        np.testing.assert_array_equal(classes[remapped], [3, 9, 40])
        counts[classes] += 1
    assert np.all(counts[[3, 9, 40]] == 400)
    for members, p in ((np.setdiff1d(np.arange(10), [3, 9]), 1 / 8), (np.arange(41, 50), 2 / 9), (np.arange(10, 40), 3 / 10)):
        assert np.all(np.abs(counts[members] - 400 * p) < 5 * np.sqrt(400 * p * (1 - p))), members


def test_a_block_with_more_batch_classes_than_its_share_keeps_them_and_pads():
    """K = 20 in 2 blocks, 2 per block, batch of 4 with classes 0, 1, 2 (block 0) and 15: W / 2 = 4
    entries per block; block 0 keeps its 3 batch classes, block 1 its one plus one drawn; the
    remaining entries are padding."""
    labels = keras.ops.convert_to_tensor(np.array([0, 1, 2, 15], "int32"))
    classes, remapped, valid = (np.asarray(a) for a in ops.sample_classes(labels, 20, 4, SEED, 0, blocks=2))
    np.testing.assert_array_equal(valid, [True, True, True, False, True, True, False, False])
    assert set(classes[:3].tolist()) == {0, 1, 2} and 15 in classes[4:6] and np.all((10 <= classes[4:]) & (classes[4:] < 20))
    assert len(set(classes.tolist())) == 8  # the padding entries are classes too, distinct (the update's rows)
    np.testing.assert_array_equal(classes[remapped], [0, 1, 2, 15])


def test_rows_gathered_and_set_per_block_are_those_of_the_flat_ids(rng):
    """`gather_rows` / `set_rows` of (S, W / S) ids (a blocked draw) against NumPy on the flat ids."""
    from tf_wsoftmax.ops import _backend

    matrix = rng.normal(size=(12, 3)).astype("float32")
    ids = np.array([[2, 0], [5, 4], [11, 8]], "int32")  # block s of 4 rows: ids in [4 s, 4 s + 4)
    gathered = _backend.gather_rows(keras.ops.convert_to_tensor(matrix), keras.ops.convert_to_tensor(ids))
    np.testing.assert_array_equal(np.asarray(gathered), matrix[ids.ravel()])
    values = rng.normal(size=(6, 3)).astype("float32")
    expected = matrix.copy()
    expected[ids.ravel()] = values
    if BACKEND == "tensorflow":
        variable = keras.Variable(matrix)
        _backend.set_rows(variable, keras.ops.convert_to_tensor(ids), keras.ops.convert_to_tensor(values))
        written = np.asarray(variable)
    else:
        written = np.asarray(_backend.set_rows(keras.ops.convert_to_tensor(matrix), ids, values))
    np.testing.assert_array_equal(written, expected)


@pytest.mark.parametrize("case", ["wsoftmax_full", "arcface"])
def test_a_per_block_draw_is_scored_and_updated_by_its_rows(rng, case):
    """`sample_blocks=4`, K = 40, rate 0.25: the objective equals the float64 reference over the
    blocked draw's 12 classes (1e-12 relative), and after two `fit` steps with `LazyColumnSGD` the
    classes step 2 did not draw keep step 1's value and momentum while those it drew moved."""
    make, reference_logits = CASES[case]
    x, w, y = problem(rng, classes=40, batch=3)
    with float64():
        head = make(40, sample_rate=0.25, sample_seed=SEED, sample_blocks=4, dtype="float64")
        loss, _ = objective_and_gradients(head, x, w, y)
        classes, remapped, valid = ops.sample_classes(
            keras.ops.convert_to_tensor(y, "int32"), 40, head.num_sampled, SEED, 0, blocks=4
        )
    classes, remapped = np.asarray(classes), np.asarray(remapped)
    assert valid is None and len(classes) == 12
    expected = reference.softmax_cross_entropy(reference_logits(x, w[:, classes], remapped), remapped).mean()
    np.testing.assert_allclose(loss, expected, rtol=1e-12)
    features = rng.normal(size=(16, 6)).astype("float32")
    labels = rng.integers(0, 40, 16).astype("int32")
    model = classifier(lambda: make(40, sample_rate=0.25, sample_seed=SEED, sample_blocks=4, name="head"))
    model.fit(features[:8], labels[:8], batch_size=8, epochs=1, verbose=0, shuffle=False)
    kernel_1, momentum_1 = kernel_of(model), momentum_of(model)
    model.fit(features[8:], labels[8:], batch_size=8, epochs=1, verbose=0, shuffle=False)
    second = np.asarray(ops.sample_classes(
        keras.ops.convert_to_tensor(labels[8:]), 40, model.head.num_sampled, SEED, 1, blocks=4
    )[0])
    assert len(second) == 4 * 8  # W / S = min(K / S, max(3, B)) = 8 per block
    left = np.setdiff1d(np.arange(40), second)
    np.testing.assert_array_equal(kernel_of(model)[:, left], kernel_1[:, left])
    np.testing.assert_array_equal(momentum_of(model)[:, left], momentum_1[:, left])
    assert np.all(np.abs(kernel_of(model)[:, second[:3]] - kernel_1[:, second[:3]]).sum(0) > 0)


@pytest.mark.parametrize("arguments", [
    {"sample_rate": 0.5, "sample_blocks": 3}, {"sample_rate": 1.0, "sample_blocks": 2},
    {"sample_rate": 0.5, "sample_blocks": 0}, {"sample_rate": 0.5, "sample_blocks": 2.0},
])
def test_sample_blocks_that_do_not_divide_the_classes_or_have_nothing_to_split_are_refused(arguments):
    with pytest.raises(ValueError, match="`sample_blocks` must"):
        NormalizedDense(10, **arguments)



@pytest.mark.parametrize("class_axis", [0, 1], ids=["class_major", "dense_layout"])
def test_the_lazy_columns_mixin_restores_untouched_classes_of_any_optimizer(rng, class_axis):
    """`LazyColumns` on an optimizer that does not know classes (Adam here): after its update the
    classes with an all-zero gradient are restored, value and both slots, along the registered axis;
    the touched ones are Adam's, bit for bit."""
    class LazyAdam(LazyColumns, keras.optimizers.Adam):
        pass

    def laid_out(array):
        return array if class_axis == 0 else array.T

    start = rng.normal(size=(10, 4)).astype("float32")
    gradient = rng.normal(size=(10, 4)).astype("float32")
    gradient[[0, 3, 8]] = 0.0
    lazy_variable = keras.Variable(laid_out(start), name="kernel")
    plain_variable = keras.Variable(laid_out(start), name="kernel")
    lazy, plain = LazyAdam(0.1), keras.optimizers.Adam(0.1)
    lazy.lazy_columns([lazy_variable], class_axis=class_axis)
    lazy.apply([keras.ops.convert_to_tensor(laid_out(gradient))], [lazy_variable])
    plain.apply([keras.ops.convert_to_tensor(laid_out(gradient))], [plain_variable])
    touched = np.abs(gradient).sum(1) > 0
    after, adam = laid_out(np.asarray(lazy_variable)), laid_out(np.asarray(plain_variable))
    np.testing.assert_array_equal(after[touched], adam[touched])
    np.testing.assert_array_equal(after[~touched], start[~touched])
    assert np.abs(adam[~touched] - start[~touched]).min() == 0  # Adam moves no zero-gradient class at step 1
    for slot in lazy.variables:
        if tuple(slot.shape) == tuple(lazy_variable.shape):
            assert not np.any(laid_out(np.asarray(slot))[~touched])


def test_the_largest_keys_are_those_of_a_stable_sort_ties_to_the_lower_index(rng):
    """`_largest_keys` (the draw's O(K) selection) against NumPy's stable sort: 30 random (S, n) key
    arrays, from 3 distinct values (ties everywhere) to 2^24, any `need` in [0, n]."""
    from tf_wsoftmax.ops import sampling

    for _ in range(30):
        rows, n = int(rng.integers(1, 4)), int(rng.integers(1, 60))
        keys = rng.integers(0, rng.choice([3, 50, 2**24]), size=(rows, n)).astype("int32")
        need = rng.integers(0, n + 1, size=rows).astype("int32")
        got = np.asarray(sampling._largest_keys(keras.ops.convert_to_tensor(keys), keras.ops.convert_to_tensor(need)))
        for row in range(rows):
            order = np.lexsort((np.arange(n), -keys[row].astype(np.int64)))
            np.testing.assert_array_equal(np.flatnonzero(got[row]), np.sort(order[: need[row]]))


@pytest.mark.parametrize("blocks", [1, 4])
@pytest.mark.parametrize("num_sampled", [400, 40], ids=["no_padding", "padding"])
def test_the_draw_keeps_the_classes_of_the_largest_scores(rng, blocks, num_sampled):
    """The drawn set is Partial FC's: per block, the classes of the W / S largest scores (the batch's
    at 2), computed from the same scores with NumPy's sort; with padding, the real entries are the
    largest `kept` of them. Eagerly and traced."""
    from tf_wsoftmax.ops import _backend

    labels = keras.ops.convert_to_tensor(rng.integers(0, 1000, 64).astype("int32"))
    drawn = ops.sample_classes(labels, 1000, num_sampled, SEED, 3, blocks)
    compiled = traced(lambda s: ops.sample_classes(labels, 1000, num_sampled, SEED, s, blocks)[0])
    np.testing.assert_array_equal(np.asarray(compiled(keras.ops.convert_to_tensor(3))), np.asarray(drawn[0]))
    classes, remapped = np.asarray(drawn[0]).reshape(blocks, -1), np.asarray(drawn[1])
    valid = None if drawn[2] is None else np.asarray(drawn[2]).reshape(blocks, -1)
    assert (valid is None) == (num_sampled == 400)
    scores = np.array(_backend.uniform_at((1000,), SEED, 3))
    scores[np.asarray(labels)] = 2.0
    size = 1000 // blocks
    for block in range(blocks):
        order = np.lexsort((np.arange(size), -scores[block * size:(block + 1) * size])) + block * size
        width = classes.shape[1]
        assert set(classes[block].tolist()) == set(order[:width].tolist())
        kept = width if valid is None else int(valid[block].sum())
        assert set(classes[block, :kept].tolist()) == set(order[:kept].tolist())
    np.testing.assert_array_equal(classes.ravel()[remapped], np.asarray(labels))


@pytest.mark.skipif(BACKEND != "tensorflow", reason="a batch of unknown size is a TensorFlow graph's")
@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("blocks", [1, 4])
def test_a_graph_of_unknown_batch_size_draws_the_same_classes(rng, blocks, jit_compile):
    """A `tf.function` traced for (None,) labels takes the dynamic-width top-k path of
    `sample_classes`: per block the same drawn set, the same real entries (first, in score order
    there) and the same padding as the static O(K) selection, with and without XLA."""
    import tensorflow as tf

    labels = rng.integers(0, 1000, 64).astype("int32")
    draw = lambda l, s: ops.sample_classes(l, 1000, 40, SEED, s, blocks)  # noqa: E731
    dynamic = tf.function(draw, jit_compile=jit_compile,
                          input_signature=[tf.TensorSpec([None], tf.int32), tf.TensorSpec([], tf.int32)])
    static = tf.function(draw, jit_compile=jit_compile)
    for got, want in zip(dynamic(labels, tf.constant(3)), static(labels, tf.constant(3))):
        assert got.shape == want.shape
    (classes, remapped, valid), (expected, _, expected_valid) = (
        [np.asarray(a) for a in d(labels, tf.constant(3))] for d in (dynamic, static)
    )
    np.testing.assert_array_equal(classes[remapped], labels)
    for c, v, e, ev in zip(*(a.reshape(blocks, -1) for a in (classes, valid, expected, expected_valid))):
        assert set(c.tolist()) == set(e.tolist()) and set(c[v].tolist()) == set(e[ev].tolist())
        assert v.sum() == ev.sum() and np.all(v[: v.sum()])
