"""Partial FC's column step: a sampled head's kernel is differentiated and updated by its sampled classes.

A training step of a class-sampling head (`sample_rate` < 1) scores W of
the K classes. Such a head stores its kernel class-major, (K, d)
(`MarginHead.class_major`), so the W classes are W contiguous rows.
Differentiating with respect to the kernel would give a dense (K, d)
gradient (the scatter of the gathered rows' gradient), which the optimizer
would then read whole. The column step instead differentiates with respect
to the gathered (W, d) rows themselves and hands `LazyColumnSGD` their
gradient with their class ids (`LazyColumnSGD.sampled_columns`), which
reads and writes those rows of the kernel and its momentum only. The
numbers are those of the dense step: the same gather and objective, the
rows' gradient is the dense gradient's sampled rows, and the update's
expressions are the dense update's, row by row.

How the gradient reaches the rows (`SampledRows`): on TensorFlow the head
gathers them with no gradient path to the kernel and the step's tape
watches the gathered tensor; on JAX the step differentiates a (W, d) zero
that the head adds to the gathered rows (JAX differentiates arguments
only).

Used by `MarginClassifier`'s train step (both backends), `TrainStep` and the
benchmark's head step, whenever the optimizer (or the inner optimizer of a
`LossScaleOptimizer`) is a `LazyColumnSGD` with the head's kernel
registered. Under a `tf.distribute` strategy of several replicas the dense
step is kept.
"""

import contextlib

import keras

from tf_wsoftmax.layers.margin_head import SampledRows
from tf_wsoftmax.ops import _backend


def column_optimizer(optimizer):
    """The `LazyColumnSGD` that updates by sampled classes (looked up through `LossScaleOptimizer`s), or None."""
    inner = optimizer
    while isinstance(inner, keras.optimizers.LossScaleOptimizer):
        inner = inner.inner_optimizer
    if getattr(inner, "column_update", False) and hasattr(inner, "sampled_columns"):
        return inner
    return None


def column_heads(optimizer, heads, variables):
    """The heads among `heads` whose kernel a step over `variables` updates by its sampled rows.

    Those that sample classes, are built, whose kernel is trainable, among
    `variables` and registered with the optimizer's `LazyColumnSGD`. None
    under a `tf.distribute` strategy of several replicas.
    """
    inner = column_optimizer(optimizer)
    if inner is None or _backend.num_replicas() > 1:
        return []
    ids = {id(v) for v in variables}
    return [
        head for head in heads
        if getattr(head, "samples_classes", False) and head.built and head.kernel.trainable
        and id(head.kernel) in ids and head.kernel.path in inner.lazy_column_paths
    ]


@contextlib.contextmanager
def recording(heads, tape=None, deltas=None):
    """Within it, the heads' training steps gather their sampled rows into `SampledRows` records.

    Args:
        heads: from `column_heads`.
        tape: TensorFlow: the step's `tf.GradientTape` (it watches the gathered rows).
        deltas: JAX: one (W, d) zero per head, the differentiated arguments.

    Yields:
        The records, one per head.
    """
    records = [
        SampledRows(delta=None if deltas is None else deltas[i], watch=None if tape is None else tape.watch)
        for i in range(len(heads))
    ]
    for head, record in zip(heads, records):
        head.sampled_columns(record)
    try:
        yield records
    finally:
        for head in heads:
            head.sampled_columns(None)


def sources(variables, heads, records):
    """`variables` with each head's kernel replaced by its gathered rows (TensorFlow's tape sources)."""
    rows = {id(head.kernel): record.rows for head, record in zip(heads, records) if record.rows is not None}
    return [rows.get(id(variable), variable) for variable in variables]


@contextlib.contextmanager
def applying(optimizer, heads, records):
    """Within it, the optimizer takes each head's kernel gradient as that of its recorded rows."""
    columns = {head.kernel.path: record.classes for head, record in zip(heads, records) if record.classes is not None}
    if not columns:
        yield
        return
    with column_optimizer(optimizer).sampled_columns(columns):
        yield


def jax_gradients_and_records(other_gradients, kernels, column_gradients, classes):
    """A JAX step's gradients in variable order, and the heads' records of their drawn classes.

    Args:
        other_gradients: the gradients of every trainable variable but the sampled kernels, in order.
        kernels: the indices of the sampled kernels among the trainable variables.
        column_gradients: each sampled kernel's (W, d) row gradient, in the order of `kernels`.
        classes: each head's drawn class ids (the step's auxiliary output).

    Returns:
        (the full list of gradients, a `SampledRows` per head holding its classes).
    """
    gradients = list(other_gradients)
    for i, gradient in sorted(zip(kernels, column_gradients)):
        gradients.insert(i, gradient)
    records = [SampledRows() for _ in classes]
    for record, drawn in zip(records, classes):
        record.classes = drawn
    return gradients, records


def deltas(heads, batch):
    """JAX: the (W, d) zeros a step of `batch` samples differentiates, one per head."""
    return [
        keras.ops.zeros((head.sampled_width(batch), head.kernel.shape[1]), head.kernel.dtype) for head in heads
    ]


def tensorflow_gradients(tape, loss, variables, heads, records):
    """The tape's gradients of `variables`, each column-stepped kernel's as its rows' (W, d) gradient."""
    return tape.gradient(loss, sources(variables, heads, records))
