"""Run-time assertions are built where they can raise and left out where XLA would drop them.

XLA compiles `Assert` out and logs "Ignoring Assert operator" for each one; the ops build none
under XLA (the labels of an XLA `TrainStep` are checked in a plain `tf.function` before it).
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from tf_wsoftmax import ops

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _assert_ops(function, *args):
    graph = function.get_concrete_function(*args).graph
    types = [op.type for op in graph.get_operations()]
    for library_function in graph.as_graph_def().library.function:
        types += [node.op for node in library_function.node_def]
    return types.count("Assert")


def test_ops_build_assertions_in_graphs_but_not_under_xla():
    features = tf.constant(np.ones((4, 3), np.float32))
    kernel = tf.constant(np.eye(3, 5, dtype=np.float32))
    labels = tf.constant([0, 1, 2, 4])

    def logits(features, kernel, labels):
        return ops.wsoftmax_logits(features, kernel, labels, tf.constant(1.0))

    graph, xla = tf.function(logits), tf.function(logits, jit_compile=True)
    assert _assert_ops(graph, features, kernel, labels) >= 3  # label range, batch size, alpha
    assert _assert_ops(xla, features, kernel, labels) == 0
    np.testing.assert_allclose(xla(features, kernel, labels).numpy(), graph(features, kernel, labels).numpy(),
                               rtol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_classes"):
        graph(features, kernel, tf.constant([0, 1, 2, 5]))


@pytest.mark.slow
def test_an_xla_train_step_logs_no_ignored_assertions():
    """TensorFlow's C++ log is read in a child started with TF_CPP_MIN_LOG_LEVEL=0 (the test process
    silences it before TensorFlow loads). Before the change: 7 "Ignoring Assert operator" lines."""
    code = textwrap.dedent("""
        import keras
        import numpy as np
        from tf_wsoftmax.layers import NormalizedDense
        from tf_wsoftmax.training import TrainStep

        backbone = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4)])
        step = TrainStep(backbone, NormalizedDense(3, alpha=1.0), keras.optimizers.SGD(0.1), jit_compile=True)
        x = np.random.default_rng(0).normal(size=(8, 6)).astype("float32")
        print("loss", float(step(x, np.arange(8) % 3)["loss"]))
    """)
    env = dict(os.environ, PYTHONPATH=REPOSITORY, TF_CPP_MIN_LOG_LEVEL="0", CUDA_VISIBLE_DEVICES="")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "loss" in done.stdout
    assert "Ignoring Assert" not in done.stderr, [line for line in done.stderr.splitlines() if "Assert" in line]
