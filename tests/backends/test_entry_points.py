"""One objective behind every entry point; schedules count training steps only; no hidden state.

Runs on TensorFlow and JAX (tests/backends). The entry points: `MarginClassifier.fit`, a stock
model compiled with `MarginLoss` / `SoftmaxCrossEntropy`, and (TensorFlow) `TrainStep`.
"""

import keras
import numpy as np
import pytest

from tests import reference
from tests.backends.backend_utils import BACKEND
from tf_wsoftmax.layers import MarginHead
from tf_wsoftmax.layers import NormalizedDense
from tf_wsoftmax.losses import LOSSES
from tf_wsoftmax.losses import MarginLoss
from tf_wsoftmax.losses import SoftmaxCrossEntropy
from tf_wsoftmax.losses import WSoftmaxLoss
from tf_wsoftmax.losses import build_loss
from tf_wsoftmax.training import MarginClassifier

BATCH = 12
CLASSES = 3


def data(rng, n=BATCH):
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (np.arange(n) % CLASSES).astype("int32")
    return x, y


def build(name, **params):
    """Backbone (with an L2 regulariser), head and centre layer of registry loss `name`, seeded."""
    keras.utils.set_random_seed(3)
    backbone = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(6, kernel_regularizer=keras.regularizers.L2(1e-2)), keras.layers.PReLU(),
         keras.layers.Dense(5)]
    )
    head, feature_loss = build_loss(name, CLASSES, **params)
    if feature_loss is not None:
        feature_loss.centers_initializer = keras.initializers.RandomNormal(seed=5)
    return backbone, head, feature_loss


def weights(backbone, head, feature_loss):
    parts = [backbone, head] + ([feature_loss] if feature_loss is not None else [])
    return [np.asarray(w) for part in parts for w in part.get_weights()]


def step_with(entry, name, x, y):
    """One SGD step through `entry`; returns (the step's loss, the weights after it)."""
    backbone, head, feature_loss = build(name)
    optimizer = keras.optimizers.SGD(0.1)
    if entry == "margin_classifier":
        model = MarginClassifier(backbone, head, feature_loss)
        model.compile(optimizer=optimizer)
        loss = model.fit(x, y, batch_size=len(y), epochs=1, shuffle=False, verbose=0).history["loss"][0]
    elif entry == "compile":
        model = keras.Sequential([backbone, head])
        model.compile(optimizer=optimizer, loss=MarginLoss(head) if isinstance(head, MarginHead) else SoftmaxCrossEntropy())
        loss = model.fit(x, y, batch_size=len(y), epochs=1, shuffle=False, verbose=0).history["loss"][0]
    else:
        from tf_wsoftmax.training import TrainStep

        backbone(x[:1])
        head(backbone(x[:1]))
        if feature_loss is not None:
            feature_loss.build((None, 5))
        loss = float(TrainStep(backbone, head, optimizer, feature_loss=feature_loss)(x, y)["loss"])
    return loss, weights(backbone, head, feature_loss)


def entry_points(name):
    entries = ["margin_classifier"]
    if LOSSES[name].feature_loss is None:
        entries.append("compile")  # a stock model has no place for class centres
    if BACKEND == "tensorflow":
        entries.append("train_step")
    return entries


@pytest.mark.parametrize("name", list(LOSSES))
def test_every_entry_point_takes_the_same_step(rng, name):
    """Same loss and same weights (gradient and centre update) after one step, per entry point.

    A float32 step through the same operations in a different order: the weights (order 1)
    agree to a few float32 ulps times the step's terms, hence rtol 1e-5 / atol 1e-6.
    """
    x, y = data(rng)
    results = {entry: step_with(entry, name, x, y) for entry in entry_points(name)}
    first_loss, first_weights = results["margin_classifier"]
    _, initial = step_with_no_training(name)
    moved = max(float(np.abs(a - b).max()) for a, b in zip(first_weights, initial))
    assert moved > 1e-4  # the step changed the weights, so equality below is informative
    for entry, (loss, after) in results.items():
        np.testing.assert_allclose(loss, first_loss, rtol=1e-5, err_msg=entry)
        assert len(after) == len(first_weights)
        for a, b in zip(after, first_weights):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=entry)


def step_with_no_training(name):
    backbone, head, feature_loss = build(name)
    backbone(np.zeros((1, 4), "float32"))
    head(backbone(np.zeros((1, 4), "float32")))
    if feature_loss is not None:
        feature_loss.build((None, 5))
    return None, weights(backbone, head, feature_loss)


def schedule_model(path, warmup):
    keras.utils.set_random_seed(7)
    backbone = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5)])
    head = NormalizedDense(CLASSES, alpha=1.0, alpha_warmup_steps=warmup, name="head")
    if path == "compile":
        model = keras.Sequential([backbone, head])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=WSoftmaxLoss(head))
    else:
        model = MarginClassifier(backbone, head)
        model.compile(optimizer=keras.optimizers.SGD(0.1))
    return model, head


@pytest.mark.parametrize("path", ["compile", "margin_classifier"])
def test_validation_evaluate_and_predict_do_not_advance_the_schedule(rng, path):
    x, y = data(rng, n=32)
    model, head = schedule_model(path, warmup=100)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, validation_data=(x, y))  # 4 steps, 4 validation batches
    assert int(np.asarray(head.iterations)) == 4 == int(np.asarray(model.optimizer.iterations))
    model.evaluate(x, y, batch_size=8, verbose=0)
    model.predict(x, batch_size=8, verbose=0)
    assert int(np.asarray(head.iterations)) == 4


@pytest.mark.parametrize("path", ["compile", "margin_classifier"])
def test_warm_up_switches_at_the_same_step_with_validation(rng, path):
    """Algorithm 1 with a 3-step warm-up over 2 epochs of 2 steps: validating after every epoch
    must not change a single weight (a schedule advanced by validation switches early)."""
    x, y = data(rng, n=16)
    runs = []
    for validation in (None, (x, y)):
        model, head = schedule_model(path, warmup=3)
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, validation_data=validation)
        runs.append([np.asarray(w) for w in model.get_weights()])
        assert int(np.asarray(head.iterations)) == 4
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_evaluate_reports_the_test_time_cross_entropy_on_both_paths(rng):
    """`loss` of evaluate: the float64 cross-entropy of the test-time logits, on both paths."""
    x, y = data(rng, n=16)
    compiled, head = schedule_model("compile", warmup=0)
    classifier, other_head = schedule_model("margin_classifier", warmup=0)
    classifier.set_weights(compiled.get_weights())
    features = np.asarray(compiled.layers[0].predict(x, verbose=0)).astype("float64")
    expected = reference.softmax_cross_entropy(
        reference.normalized_logits(features, np.asarray(head.kernel).astype("float64")), y
    ).mean()
    for model in (compiled, classifier):
        np.testing.assert_allclose(
            model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)["loss"], expected, rtol=1e-5
        )


def count_head_passes(head):
    """Counts the head's layer calls, its test-time logit products (instance attributes) and its
    chunked training passes (its `scoring`, read once by each `training_loss`)."""
    counts = {"call": 0, "test_logits": 0, "chunked": 0}
    call, test_logits, scoring = head.call, head.test_logits, head.scoring

    def counted_call(*args, **kwargs):
        counts["call"] += 1
        return call(*args, **kwargs)

    def counted_test_logits(inputs):
        counts["test_logits"] += 1
        return test_logits(inputs)

    def counted_scoring():
        counts["chunked"] += 1
        return scoring()

    head.call, head.test_logits, head.scoring = counted_call, counted_test_logits, counted_scoring
    return counts


@pytest.mark.parametrize("path", ["compile", "margin_classifier"])
def test_one_head_pass_per_training_step(rng, path):
    """The metrics' test-time logits come from the training step's own head pass."""
    x, y = data(rng, n=16)
    model, head = schedule_model(path, warmup=0)
    model.compile(
        optimizer=keras.optimizers.SGD(0.1), loss=WSoftmaxLoss(head) if path == "compile" else None,
        metrics=["accuracy"], run_eagerly=True,
    )
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # Keras may trace shapes once first (JAX)
    counts = count_head_passes(head)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    # 2 steps: one (B, d) x (d, K) head pass each, and no second call of the head for the metrics:
    # the stock path through the layer call (its (B, K) output is the model's), `MarginClassifier`
    # through `training_loss`, whose chunked pass gives the loss and the correctness together.
    if path == "compile":
        assert counts["test_logits"] == 2 and counts["call"] == 2 and counts["chunked"] == 0
    else:
        assert counts["chunked"] == 2 and counts["test_logits"] == 0 and counts["call"] == 0


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TrainStep is TensorFlow")
def test_one_head_pass_per_train_step_of_the_custom_loop(rng):
    from tf_wsoftmax.training import TrainStep

    x, y = data(rng, n=16)
    backbone = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5)])
    head = NormalizedDense(CLASSES, alpha=1.0)
    head.build((None, 5))
    counts = count_head_passes(head)
    TrainStep(backbone, head, keras.optimizers.SGD(0.1))(x, y)  # one trace of the step
    assert counts["chunked"] == 1 and counts["test_logits"] == 0 and counts["call"] == 0


def test_inference_keeps_nothing_on_the_head(rng):
    x, y = data(rng, n=16)
    model, head = schedule_model("compile", warmup=0)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    model.predict(x, verbose=0)
    model.evaluate(x, y, verbose=0)
    head(x[:, :4] @ np.ones((4, 5), "float32"))
    held = [v for v in vars(head).values() if keras.ops.is_tensor(v) and tuple(v.shape)[:1] == (16,)]
    assert held == []  # no tensor of this batch is held by the head
    assert head._pending_training_call is None


@pytest.mark.parametrize("jit_compile", [False, True], ids=["default", "xla"])
@pytest.mark.parametrize("name", ["wsoftmax", "cosface", "arcface", "center"])
@pytest.mark.parametrize("entry", ["compile", "margin_classifier"])
def test_a_bad_label_never_trains(rng, name, entry, jit_compile):
    """One label outside [0, K) in a compiled fit step: the step raises, or every weight is NaN.

    Uncompiled steps raise (TensorFlow's assertions; JAX's checks of concrete values); inside
    `jax.jit` nothing can raise, so the bad row is NaN through the logits and its NaN reaches the
    gradient (a NaN added as a constant would leave
    the weights finite and train on the other rows). TensorFlow under XLA drops the assertions;
    its sparse cross-entropy kernel then gives NaN, which must reach the weights too.
    """
    if entry == "compile" and LOSSES[name].feature_loss is not None:
        pytest.skip("a stock model has no place for class centres")
    x, y = data(rng)
    y[3] = CLASSES + 2
    backbone, head, feature_loss = build(name)
    if entry == "compile":
        model = keras.Sequential([backbone, head])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=MarginLoss(head), jit_compile=jit_compile)
    else:
        model = MarginClassifier(backbone, head, feature_loss)
        model.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=jit_compile)
    try:
        model.fit(x, y, batch_size=len(y), epochs=1, verbose=0)
    except Exception as error:  # TensorFlow: InvalidArgumentError naming the labels
        assert "label" in str(error).lower() or "y_true" in str(error), error
        assert not jit_compile  # uncompiled steps see the values and raise (TF assertions, JAX NumPy checks)
        return
    assert jit_compile  # a compiled step (XLA, jax.jit) cannot raise: it must poison the weights
    assert all(np.isnan(np.asarray(w)).all() for w in model.trainable_weights)
