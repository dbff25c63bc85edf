"""Partial FC through TensorFlow's `TrainStep` and `train-faces` (resuming its draws: tests/app/test_run_kills.py)."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_wsoftmax import ops
from tf_wsoftmax.app import cli
from tf_wsoftmax.layers import NormalizedDense
from tf_wsoftmax.training import LazyColumnSGD
from tf_wsoftmax.training import TrainStep
from tf_wsoftmax.training import paper_kernel_regularizer


def parts(seed=0):
    keras.utils.set_random_seed(seed)
    backbone = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8)])
    head = NormalizedDense(64, alpha=1.0, sample_rate=0.2, sample_seed=3, kernel_regularizer=paper_kernel_regularizer())
    return backbone, head, LazyColumnSGD(0.1, momentum=0.9)


def drawn(head, labels, step, jit_compile=False):
    """The classes of `step`, drawn as the step draws them (TensorFlow's XLA draws other numbers)."""
    draw = tf.function(
        lambda: ops.sample_classes(tf.constant(labels, tf.int32), 64, head.num_sampled, head.sample_seed_weight, step)[0],
        jit_compile=jit_compile,
    )
    return np.asarray(draw())


@pytest.mark.parametrize("jit_compile", [False, True])
def test_train_step_scores_the_sampled_classes_and_leaves_the_others(rng, jit_compile):
    backbone, head, optimizer = parts()
    step = TrainStep(backbone, head, optimizer, jit_compile=jit_compile)
    x = rng.normal(size=(16, 6)).astype("float32")
    y = rng.integers(0, 64, 16).astype("int32")
    first = step(x[:8], y[:8])
    assert 0 <= float(first["correct"]) <= 8
    kernel_1 = head.kernel.numpy()  # class-major (K, d): class j is row j
    step(x[8:], y[8:])
    left = np.setdiff1d(np.arange(64), drawn(head, y[8:], tf.constant(1, tf.int64), jit_compile))
    np.testing.assert_array_equal(head.kernel.numpy()[left], kernel_1[left])
    assert int(head.iterations.numpy()) == 2


def test_train_step_refuses_sampling_under_a_strategy():
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        backbone, head, optimizer = parts()
        with pytest.raises(ValueError, match="not supported by `TrainStep` under a tf.distribute"):
            TrainStep(backbone, head, optimizer)


def test_train_faces_has_the_sample_rate_flag(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train-faces", "--help"])
    assert "--sample-rate" in capsys.readouterr().out
    assert os.path.basename(cli.__file__) == "cli.py"


@pytest.mark.slow
def test_train_faces_trains_with_partial_fc_and_resumes(tmp_path, capsys):
    """`train-faces --loss arcface --sample-rate 0.5`: 6 identities, 3 columns a step, B = 8 (more
    batch classes than 3: the padded width), checkpointed every 2 steps and resumed to 6 steps."""
    from tests.app.test_faces import make_identities

    make_identities(tmp_path / "aligned", identities=6, per_identity=8)
    args = ["train-faces", "--data", str(tmp_path / "aligned"), "--out", str(tmp_path / "run"), "--backbone",
            "small", "--image-size", "32", "--feature-dim", "8", "--batch-size", "8", "--learning-rate", "0.05",
            "--loss", "arcface", "--sample-rate", "0.5", "--checkpoint-every", "2", "--quiet"]
    assert cli.main(args + ["--steps", "4"]) == 0
    assert cli.main(args + ["--steps", "6"]) == 0
    assert "steps=6 identities=6" in capsys.readouterr().out
    assert cli.main(args[:-3] + ["--sample-rate", "1.5", "--steps", "6", "--quiet"]) == 2
    assert "sample_rate" in capsys.readouterr().err
