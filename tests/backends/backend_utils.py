"""The little that backend-neutral tests must do per Keras backend.

Tests in this folder run under `KERAS_BACKEND=tensorflow` and `jax` (CI runs
pytest twice; see the README). They call the library through `keras.ops`;
only differentiation, compilation and float64 switching differ, and live here.
"""

import contextlib

import keras
import numpy as np

BACKEND = keras.backend.backend()


def value_and_gradients(function, *arrays):
    """f(*arrays) and its gradients with respect to every array, as NumPy.

    Args:
        function: scalar function of tensors.
        *arrays: NumPy arrays (their dtype is kept).

    Returns:
        (value, [gradient per array]).
    """
    if BACKEND == "jax":
        import jax

        value, grads = jax.value_and_grad(function, argnums=tuple(range(len(arrays))))(*arrays)
        return np.asarray(value), [np.asarray(g) for g in grads]
    import tensorflow as tf

    tensors = [tf.constant(a) for a in arrays]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        value = function(*tensors)
    grads = tape.gradient(value, tensors, unconnected_gradients="zero")
    return np.asarray(value), [np.asarray(g) for g in grads]


def compiled(function):
    """`function` compiled by XLA: `jax.jit`, or `tf.function(jit_compile=True)`."""
    if BACKEND == "jax":
        import jax

        return jax.jit(function)
    import tensorflow as tf

    return tf.function(function, jit_compile=True)


def traced(function):
    """`function` traced into a graph: `jax.jit`, or `tf.function` (no XLA: its assertions run)."""
    if BACKEND == "jax":
        import jax

        return jax.jit(function)
    import tensorflow as tf

    return tf.function(function)


@contextlib.contextmanager
def float64():
    """Lets float64 arrays stay float64 (JAX truncates them to float32 unless x64 is on)."""
    if BACKEND == "jax":
        import jax

        with jax.enable_x64(True):
            yield
    else:
        yield


def value_error_types():
    """Exceptions a run-time value check raises on this backend (eagerly or in a traced function)."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return (ValueError, tf.errors.InvalidArgumentError)
    return (ValueError,)
