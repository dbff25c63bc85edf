import glob

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import helpers
from tf_wsoftmax.data import epoch_datasets
from tf_wsoftmax.layers import NormalizedDense
from tf_wsoftmax.training import LoopConfig
from tf_wsoftmax.training import TrainStep
from tf_wsoftmax.training import paper_kernel_regularizer
from tf_wsoftmax.training import paper_learning_rate
from tf_wsoftmax.training import paper_optimizer
from tf_wsoftmax.training import train


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


def _run(tmp_path, data_fn, epochs, seed=0):
    keras.utils.set_random_seed(seed)
    backbone = helpers.tiny_backbone()
    # Algorithm 1: softmax for 7 steps, then W-Softmax (the switch falls
    # between the killed run's last checkpoint and the end).
    head = NormalizedDense(4, alpha=1.0, alpha_warmup_steps=7)
    optimizer = keras.optimizers.SGD(0.05, momentum=0.9)
    config = LoopConfig(
        epochs=epochs,
        checkpoint_dir=str(tmp_path / "ckpt"),
        checkpoint_every=3,
        log_dir=str(tmp_path / "logs"),
        verbose=False,
    )
    result = train(backbone, head, optimizer, data_fn, config)
    return result, backbone, head, optimizer


class _Crash(Exception):
    pass


def test_killed_run_resumes_to_the_same_weights(tmp_path, rng):
    """A run that dies mid-epoch (no clean-up, like a kill) and is restarted
    from fresh objects ends with the same step count, weights and epoch
    metrics as a run that was never interrupted."""
    x, y = helpers.toy_batch(rng, n=40)
    data_fn = epoch_datasets(x, y, batch_size=8, seed=3)  # 5 steps per epoch

    reference, ref_backbone, ref_head, _ = _run(tmp_path / "straight", data_fn, epochs=3)
    assert reference["step"] == 15

    crash_at = 8  # epoch 2, third batch; last checkpoint at step 6

    def crashing(epoch):
        counter = {"n": 0}

        def bomb(images, labels):
            counter["n"] += 1
            if epoch * 5 + counter["n"] > crash_at:
                raise _Crash()
            return images, labels

        return data_fn(epoch).map(
            lambda a, b: tf.numpy_function(bomb, [a, b], [a.dtype, b.dtype], stateful=True)
        ).apply(tf.data.experimental.assert_cardinality(5))

    with pytest.raises(Exception):
        _run(tmp_path / "killed", crashing, epochs=3, seed=0)
    assert tf.train.latest_checkpoint(str(tmp_path / "killed" / "ckpt")).endswith("-6")

    # Fresh objects with a different init: everything must come from the checkpoint.
    resumed, backbone, head, optimizer = _run(tmp_path / "killed", data_fn, epochs=3, seed=99)
    assert resumed["step"] == 15 and int(optimizer.iterations.numpy()) == 15
    assert int(head.iterations.numpy()) == 15 and float(head.current_alpha()) == 1.0
    assert [h["epoch"] for h in resumed["history"]] == [2, 3]
    for a, b in zip(resumed["history"], reference["history"][1:]):
        np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-5)
        np.testing.assert_allclose(a["accuracy"], b["accuracy"], rtol=1e-6)
    helpers.assert_weights_close(
        backbone.get_weights() + head.get_weights(),
        ref_backbone.get_weights() + ref_head.get_weights(),
        atol=1e-5,
    )
    assert glob.glob(str(tmp_path / "straight" / "logs" / "events.out.tfevents.*"))


def test_finished_run_restarts_as_a_no_op(tmp_path, rng):
    x, y = helpers.toy_batch(rng, n=16)
    data_fn = epoch_datasets(x, y, batch_size=8)
    first, *_ = _run(tmp_path, data_fn, epochs=2)
    again, *_ = _run(tmp_path, data_fn, epochs=2)
    assert first["step"] == again["step"] == 4 and again["history"] == []


def test_infinite_dataset_is_rejected(tmp_path, rng):
    x, y = helpers.toy_batch(rng)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(4).repeat()
    with pytest.raises(ValueError, match="finite"):
        _run(tmp_path, data, epochs=1)
