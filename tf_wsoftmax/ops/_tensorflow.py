"""TensorFlow's own kernels for the few steps where `keras.ops` would cost time.

Imported only when Keras runs on the TensorFlow backend (see `_backend`), so
the ops import and run without TensorFlow on JAX. What is here keeps the
TensorFlow graph of every op what it was before the ops moved to
`keras.ops`: run-time `tf.debugging` assertions (they raise eagerly and in
`tf.function`; left out of functions XLA compiles, which would drop them
with a warning each), `tf.gather(batch_dims=1)` for the target logit, and an
XLA gradient for the W_y column gather.
"""

import tensorflow as tf
from tensorflow.python.ops import control_flow_util


def compiled_by_xla():
    """True while tracing a function that XLA compiles (`tf.function(jit_compile=True)`).

    TensorFlow has no public way to ask (see docs/private_apis.md).
    """
    return control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph())


def _checked(tensor, make_assertions):
    """`tensor` with the assertions `make_assertions()` builds as control dependencies.

    Under XLA the assertions are not built: XLA compiles `Assert` out (logging
    "Ignoring Assert operator" once per assertion), so they would check
    nothing there. Callers that need a check under XLA run it outside the
    compiled function (`TrainStep` checks the labels in a plain `tf.function`).
    """
    if compiled_by_xla():
        return tensor
    with tf.control_dependencies(make_assertions()):
        return tf.identity(tensor)


def assert_labels(labels, num_classes, batch_like, name, shown_classes):
    """Attaches run-time checks of int32 labels: range [0, K) and batch size.

    Args:
        labels: int32 (B,) tensor.
        num_classes: int or scalar tensor K.
        batch_like: the tensor whose first dimension is B.
        name: the argument's name, for the messages.
        shown_classes: how the messages write K.

    Returns:
        `labels`, with the assertions as control dependencies.
    """
    return _checked(labels, lambda: [
        tf.debugging.assert_equal(
            tf.shape(labels)[0],
            tf.shape(batch_like)[0],
            message=f"`{name}` and the features have different batch sizes",
        ),
        tf.debugging.assert_non_negative(
            labels, message=f"`{name}` must be in [0, num_classes); found a negative label"
        ),
        tf.debugging.assert_less(
            labels,
            tf.cast(num_classes, tf.int32),
            message=f"`{name}` must be in [0, num_classes={shown_classes}); found a label >= num_classes",
        ),
    ])


def assert_dims_equal(tensor, dim_a, dim_b, message):
    """Returns `tensor` with a run-time assertion that `dim_a == dim_b`."""
    return _checked(tensor, lambda: [tf.debugging.assert_equal(dim_a, dim_b, message=message)])


def assert_non_negative_scalar(value, name):
    """Returns the float scalar `value` with run-time finite and >= 0 assertions."""
    return _checked(value, lambda: [
        tf.debugging.assert_all_finite(value, message=f"`{name}` must be finite"),
        tf.debugging.assert_non_negative(value, message=f"`{name}` must be >= 0"),
    ])


def assert_whole_numbers(values, name):
    """Returns float `values` cast to int32, with a run-time check that they are whole."""
    return tf.cast(_checked(values, lambda: [tf.debugging.assert_equal(
        values, tf.round(values), message=f"`{name}` must hold integer class ids; found a fractional label"
    )]), tf.int32)


def matmul(a, b, transpose_a, transpose_b):
    """a @ b with the transposes folded into TensorFlow's kernel (no transposed copy)."""
    return tf.linalg.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)


def take_rows(matrix, labels):
    """Rows `labels` of a (K, d) matrix."""
    return tf.gather(matrix, labels)


def sparse_softmax_cross_entropy(labels, logits):
    """TensorFlow's kernel (its XLA version returns NaN for an out-of-range label)."""
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)


def take_per_row(matrix, labels):
    """matrix[i, labels[i]] as (B, 1)."""
    return tf.gather(matrix, labels, batch_dims=1)[:, None]


@tf.custom_gradient
def _gather_columns_scatter_gradient(matrix, labels):
    """`tf.gather(matrix, labels, axis=1)` whose gradient is one element-wise scatter-add.

    TensorFlow's own gradient of a column gather transposes the whole (d, K)
    gradient around a row scatter; inside XLA that transpose costs more than
    the scatter itself, while an element-wise scatter into (d, K) needs none.
    Outside XLA, TensorFlow's scatter kernel is the slower one, so this is
    used only in XLA-compiled functions (see `take_columns`).
    """
    columns = tf.gather(matrix, labels, axis=1)

    def gradient(upstream):
        rows = tf.broadcast_to(tf.range(tf.shape(matrix)[0])[:, None], tf.shape(upstream))
        cols = tf.broadcast_to(labels[None, :], tf.shape(upstream))
        indices = tf.stack([tf.reshape(rows, [-1]), tf.reshape(cols, [-1])], axis=1)
        return tf.scatter_nd(indices, tf.reshape(upstream, [-1]), tf.shape(matrix)), None

    return columns, gradient


def scatter_add_columns(matrix, columns, updates):
    """`matrix` (d, K) plus the (d, n) `updates` in columns `columns`: one element-wise scatter-add."""
    rows = tf.broadcast_to(tf.range(tf.shape(matrix)[0])[:, None], tf.shape(updates))
    cols = tf.broadcast_to(columns[None, :], tf.shape(updates))
    indices = tf.stack([tf.reshape(rows, [-1]), tf.reshape(cols, [-1])], axis=1)
    return tf.tensor_scatter_nd_add(matrix, indices, tf.reshape(updates, [-1]))


def _variable(value):
    """The `tf.Variable` behind a Keras variable (or the argument itself)."""
    import keras

    return value.value if isinstance(value, keras.Variable) else value


def gather_rows(matrix, rows):
    """Rows `rows` of a (K, d) variable or tensor, as (W, d)."""
    return tf.gather(_variable(matrix), rows)


def set_rows(variable, rows, values):
    """Writes the (W, d) `values` into rows `rows` (distinct) of a (K, d) variable: one scatter of row slices."""
    _variable(variable).scatter_update(tf.IndexedSlices(values, rows))


def take_columns(matrix, labels):
    """Columns `labels` of a (d, K) matrix, with the faster gradient where XLA compiles it."""
    if compiled_by_xla():
        return _gather_columns_scatter_gradient(matrix, labels)
    return tf.gather(matrix, labels, axis=1)


def segment_sum(data, segment_ids, num_segments):
    """Per-segment sums of `data` rows (ids need not be sorted)."""
    return tf.math.unsorted_segment_sum(data, segment_ids, num_segments)


def all_reduce_sum(*values):
    """Sums tensors over the replicas of the current `tf.distribute` strategy."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return values
    return tuple(context.all_reduce(tf.distribute.ReduceOp.SUM, value) for value in values)


def uniform_at(shape, seed, counter):
    """`tf.random.stateless_uniform` on the seed pair (seed, counter): float32 in [0, 1).

    Philox by name. With a seed that is a tensor (a weight), TensorFlow still draws other
    numbers under XLA than without it, so a run resumed with `jit_compile` changed samples
    other classes (each mode is deterministic).
    """
    pair = tf.stack([tf.cast(seed, tf.int64), tf.cast(counter, tf.int64)])
    return tf.random.stateless_uniform(shape, seed=pair, dtype=tf.float32, alg="philox")
