import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import helpers
from tf_wsoftmax.layers import NormalizedDense
from tf_wsoftmax.training import TrainStep
from tf_wsoftmax.training import paper_kernel_regularizer
from tf_wsoftmax.training import paper_learning_rate
from tf_wsoftmax.training import paper_optimizer


def test_paper_learning_rate_staircase():
    schedule = paper_learning_rate()
    for step, expected in [(0, 0.01), (5999, 0.01), (6000, 0.009), (12000, 0.0081), (18001, 0.00729)]:
        np.testing.assert_allclose(float(schedule(step)), expected, rtol=1e-6)
    optimizer = paper_optimizer()
    assert isinstance(optimizer, keras.optimizers.SGD) and optimizer.momentum == 0.9


def test_paper_weight_decay_gradient_is_5e_4_times_w():
    """Caffe/TF-slim weight decay wd adds wd * w to the gradient."""
    regularizer = paper_kernel_regularizer(5e-4)
    w = tf.Variable(np.array([[1.0, -2.0], [0.5, 3.0]], "float32"))
    with tf.GradientTape() as tape:
        penalty = regularizer(w)
    np.testing.assert_allclose(tape.gradient(penalty, w).numpy(), 5e-4 * w.numpy(), rtol=1e-6)
    assert paper_kernel_regularizer(0.0) is None
    with pytest.raises(ValueError, match="weight_decay"):
        paper_kernel_regularizer(-1.0)


def test_train_step_xla_matches_graph(rng):
    x, y = helpers.toy_batch(rng)
    (b1, h1, m1), (b2, h2, m2) = helpers.twin_models(alpha=1.5)
    out1 = TrainStep(b1, h1, keras.optimizers.SGD(0.1, momentum=0.9))(x, y)
    out2 = TrainStep(b2, h2, keras.optimizers.SGD(0.1, momentum=0.9), jit_compile=True)(x, y)
    np.testing.assert_allclose(out1["loss"].numpy(), out2["loss"].numpy(), rtol=1e-5)
    helpers.assert_weights_close(m1.get_weights(), m2.get_weights(), atol=1e-5)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_train_step_rejects_bad_labels_even_with_xla(rng, jit_compile):
    x, _ = helpers.toy_batch(rng)
    (backbone, head, _), _ = helpers.twin_models()
    step = TrainStep(backbone, head, keras.optimizers.SGD(), jit_compile=jit_compile)
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_classes"):
        step(x, np.full(len(x), 4, "int32"))
    with pytest.raises(TypeError, match="integer"):
        step(x, np.zeros(len(x), "float32"))


def test_train_step_with_plain_dense_head(rng):
    """A softmax baseline head (no labels argument) trains through the same step."""
    x, y = helpers.toy_batch(rng)
    backbone = helpers.tiny_backbone()
    head = keras.layers.Dense(4)
    step = TrainStep(backbone, head, keras.optimizers.SGD(0.1))
    losses = [float(step(x, y)["loss"]) for _ in range(20)]
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("head_kind", ["wsoftmax", "partial_fc", "center"])
def test_steps_of_train_step_equal_steps_of_fit(rng, head_kind):
    """TrainStep is a thin wrapper over fit's objective and optimizer: 6 steps of each, from the same
    start, give the same weights, optimizer slots and schedule counters (the warm-up ends at step 3)."""
    from tf_wsoftmax.losses import build_loss
    from tf_wsoftmax.training import LazyColumnSGD
    from tf_wsoftmax.training import MarginClassifier
    from tf_wsoftmax.training.checkpoint import run_variables

    x, y = helpers.toy_batch(rng, n=24)

    def parts():
        keras.utils.set_random_seed(0)
        backbone = helpers.tiny_backbone(regularizer=paper_kernel_regularizer())
        if head_kind == "partial_fc":
            head, centres = NormalizedDense(4, alpha=1.0, alpha_warmup_steps=3, sample_rate=0.5, sample_seed=3), None
        else:
            params = dict(alpha=1.0, alpha_warmup_steps=3) if head_kind == "wsoftmax" else {}
            head, centres = build_loss(head_kind, 4, **params)
        optimizer = (LazyColumnSGD if head_kind == "partial_fc" else keras.optimizers.SGD)(
            paper_learning_rate(0.05, 4, 0.5), momentum=0.9)
        return backbone, head, centres, optimizer

    backbone, head, centres, optimizer = parts()
    model = MarginClassifier(backbone, head, centres)
    model.compile(optimizer=optimizer, metrics=["accuracy"])
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)

    backbone_2, head_2, centres_2, optimizer_2 = parts()
    twin = MarginClassifier(backbone_2, head_2, centres_2)  # the same variables, for the comparison
    twin.compile(optimizer=optimizer_2, metrics=["accuracy"])
    step = TrainStep(backbone_2, head_2, optimizer_2, feature_loss=centres_2)
    for start in range(0, 24, 4):
        step(x[start : start + 4], y[start : start + 4])
    assert int(optimizer_2.iterations.numpy()) == 6
    if head_kind != "center":
        assert int(head_2.iterations.numpy()) == 6 and float(head_2.current_alpha()) == 1.0
    fitted = run_variables(model)[: -len(model.metrics_variables)]  # weights, centres, counters, slots
    stepped = run_variables(twin)[: -len(twin.metrics_variables)]
    assert [tuple(v.shape) for v in fitted] == [tuple(v.shape) for v in stepped] and len(fitted) > 10
    for a, b in zip(fitted, stepped):
        np.testing.assert_allclose(np.asarray(b.numpy()), np.asarray(a.numpy()), rtol=1e-5, atol=1e-6, err_msg=a.path)
