"""Where the ops meet the Keras backend they run on.

The ops are `keras.ops` code. Three things differ per backend and live here:
- TensorFlow keeps its own kernels for the steps `keras.ops` would make slower
  (`_tensorflow`, imported only on that backend), so its graphs and speed are
  those of the TensorFlow-only ops this package had before.
- Values are checked where they are known: on TensorFlow with `tf.debugging`
  assertions (eagerly and in `tf.function`); on other backends with NumPy
  when the value is concrete (eager calls), and, inside a `jax.jit` trace,
  where no exception can be raised, by turning the affected rows of the
  result into NaN (`mark_invalid`), so a bad label is never silently used.
- Counter-based random draws (`uniform_at`): a function of (seed, counter)
  tensors, which `keras.random` takes only on JAX.
- The batch statistics the centre layers all-reduce under `tf.distribute`.
  On JAX the SPMD partitioner of `keras.distribution` inserts the collectives
  itself, so there they are the identity.
"""

import keras
import numpy as np


def is_tensorflow():
    """True when Keras runs on the TensorFlow backend."""
    return keras.backend.backend() == "tensorflow"


def _tensorflow():
    from tf_wsoftmax.ops import _tensorflow

    return _tensorflow


def is_concrete(tensor):
    """True if the tensor's values can be read now (not a JAX tracer).

    Asked only off TensorFlow: there the checks are `tf.debugging` assertions,
    which run wherever the values are.
    """
    if keras.backend.backend() == "jax":
        import jax

        return not isinstance(tensor, jax.core.Tracer)
    return True


def uniform_at(shape, seed, counter):
    """Uniform [0, 1) float32 values that are a function of (seed, counter) alone (no state).

    The stateless counter-based generators of each backend: TensorFlow's
    `tf.random.stateless_uniform` (Philox), JAX's `jax.random.uniform` on
    `fold_in(PRNGKey(seed), counter)` (threefry). The two backends draw
    different numbers for the same (seed, counter), and so does TensorFlow
    with and without XLA for tensor seeds.

    Args:
        shape: the static shape.
        seed: an integer scalar (Python int or tensor).
        counter: an integer scalar (Python int or tensor), e.g. a step count.

    Returns:
        float32 tensor of `shape`.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tensorflow().uniform_at(shape, seed, counter)
    if backend == "jax":
        import jax

        seed = keras.ops.cast(keras.ops.convert_to_tensor(seed), "uint32")
        key = jax.random.fold_in(jax.random.PRNGKey(seed), keras.ops.cast(keras.ops.convert_to_tensor(counter), "uint32"))
        return jax.random.uniform(key, shape, dtype="float32")
    raise NotImplementedError(f"Counter-based draws run on the tensorflow and jax backends, not {backend!r}.")


def value_of(tensor):
    """A tensor with the value of `tensor`, reading a variable (`keras.ops.convert_to_tensor`
    returns a TensorFlow variable itself, which `tf.custom_gradient` would then watch)."""
    if is_tensorflow():
        tf = _tensorflow().tf
        return tf.convert_to_tensor(tensor.value if isinstance(tensor, keras.Variable) else tensor)
    return keras.ops.convert_to_tensor(tensor)


def elementwise_partials(function, *args):
    """f(*args) and its partial derivatives, for an elementwise f of equally shaped tensors.

    Output i of f depends on entry i of each argument only (a per-row margin
    target), so the gradient of sum(f) with respect to each argument is the
    vector of its partial derivatives. Used inside the forward pass of a
    custom gradient (`ops.chunked_cross_entropy`): TensorFlow's nested
    `GradientTape`, JAX's `vjp`.

    Args:
        function: f(*args) -> tensor shaped like each argument.
        *args: float tensors of one shape.

    Returns:
        (f(*args), [df/d arg for each argument]); an argument f does not read
        gets zeros.
    """
    if is_tensorflow():
        tf = _tensorflow().tf
        with tf.GradientTape() as tape:
            tape.watch(args)
            value = function(*args)
        return value, tape.gradient(value, list(args), unconnected_gradients="zero")
    if keras.backend.backend() == "jax":
        import jax

        value, pullback = jax.vjp(function, *args)
        return value, list(pullback(keras.ops.ones_like(value)))
    raise NotImplementedError(f"Partial derivatives run on the tensorflow and jax backends, not {keras.backend.backend()!r}.")


def sum_over_rows(matrix, rows_split=False):
    """The column sums of a (n, K) matrix: sum over axis 0.

    XLA:CPU under JAX reduces a large matrix over its major axis column by
    column, with strided reads (0.38 s for (512, 125000) float32 on a 2-core
    CPU), so on JAX the rows are folded: the sum of 8 (or 2) contiguous row
    blocks at a time, one fused pass each (0.012 s, an eighth of the matrix
    as temporary). TensorFlow's kernels reduce well.

    Args:
        matrix: (n, K) tensor with a static n.
        rows_split: the rows are split over devices (a `keras.distribution`
            batch axis): a plain reduction, whose cross-device sum the
            partitioner adds, rather than slices across the devices.

    Returns:
        (K,) tensor.
    """
    rows = matrix.shape[0]
    if is_tensorflow() or rows_split or rows is None:
        return keras.ops.sum(matrix, axis=0)
    while rows > 8:
        factor = 8 if rows % 8 == 0 and rows >= 16 else 2
        part = rows // factor
        folded = matrix[:part]
        for index in range(1, factor):
            folded = folded + matrix[index * part : (index + 1) * part]
        if rows % factor:  # an odd row left over (factor 2)
            folded = keras.ops.concatenate([folded[:1] + matrix[factor * part :], folded[1:]], axis=0)
        matrix, rows = folded, part
    # The last few rows by a reduction: a fusion root, so XLA computes the (K,) sums once instead
    # of fusing the folds into the (d, K) passes that read them (recomputed for every row there).
    return keras.ops.sum(matrix, axis=0)


def scatter_add_columns(matrix, columns, updates):
    """`matrix` with the (d, n) `updates` added to its columns `columns` (int32 (n,), repeats add up)."""
    if is_tensorflow():
        return _tensorflow().scatter_add_columns(matrix, columns, updates)
    return matrix.at[:, columns].add(updates)


def scatter_add_rows(matrix, rows, updates):
    """`matrix` with the (n, d) `updates` added to its rows `rows` (int32 (n,), repeats add up)."""
    if is_tensorflow():
        return _tensorflow().tf.tensor_scatter_nd_add(matrix, rows[:, None], updates)
    return matrix.at[rows].add(updates)


def matmul(a, b, transpose_a=False, transpose_b=False):
    """a @ b with either operand transposed; TensorFlow folds the transposes into its kernel."""
    if is_tensorflow():
        return _tensorflow().matmul(a, b, transpose_a, transpose_b)
    a = keras.ops.transpose(a) if transpose_a else a
    b = keras.ops.transpose(b) if transpose_b else b
    return keras.ops.matmul(a, b)


def take_per_row(matrix, labels):
    """matrix[i, labels[i]] for a (B, K) matrix and int32 (B,) labels, as (B, 1)."""
    if is_tensorflow():
        return _tensorflow().take_per_row(matrix, labels)
    return keras.ops.take_along_axis(matrix, labels[:, None], axis=1)


def take_columns(matrix, labels):
    """Columns `labels` of a (d, K) matrix, as (d, B)."""
    if is_tensorflow():
        return _tensorflow().take_columns(matrix, labels)
    return keras.ops.take(matrix, labels, axis=1)


def gather_rows(matrix, rows):
    """Rows `rows` (distinct, in range) of a (K, d) variable or matrix, as (W, d), in the order given.

    Contiguous windows of d values each: a class-major kernel's class vectors
    (a draw's classes, or the rows an update reads). JAX is told the indices
    are unique and in range (`promise_in_bounds`: no fill); TensorFlow's is
    `tf.gather`. Differentiable with respect to a tensor `matrix`.

    `rows` of shape (S, W / S) are a blocked draw's (`sample_classes` with
    `blocks` = S, reshaped): row s holds ids of block s, [s K / S, (s + 1)
    K / S). JAX then gathers block by block (a gather whose batch dimension
    is the block), which XLA's partitioner keeps on the devices that hold
    each block when the matrix is split along K; the result is the same
    (W, d) as the gather of the flattened ids.
    """
    if is_tensorflow():
        return _tensorflow().gather_rows(matrix, keras.ops.reshape(rows, (-1,)))
    import jax
    import jax.numpy as jnp

    value = jnp.asarray(keras.ops.convert_to_tensor(matrix))
    if len(rows.shape) == 1:
        return value.at[rows].get(mode="promise_in_bounds", unique_indices=True)
    blocked, local = _blocked(value, rows)
    gathered = jax.vmap(lambda block, ids: block.at[ids].get(mode="promise_in_bounds", unique_indices=True))(
        blocked, local
    )
    return gathered.reshape(-1, value.shape[1])


def set_rows(matrix, rows, values):
    """Rows `rows` (distinct, in range) of a (K, d) matrix set to the (W, d) `values`.

    TensorFlow: a scatter of row slices into the variable `matrix`
    (`scatter_update` of `tf.IndexedSlices`; returns nothing), inside XLA
    and outside. JAX: the new matrix, one scatter of (1, d) windows (in place
    where the step donates the buffer). `rows` of shape (S, W / S): block by
    block, as `gather_rows` reads them.
    """
    if is_tensorflow():
        return _tensorflow().set_rows(matrix, keras.ops.reshape(rows, (-1,)), values)
    import jax
    import jax.numpy as jnp

    value = jnp.asarray(matrix)
    if len(rows.shape) == 1:
        return value.at[rows].set(values, mode="promise_in_bounds", unique_indices=True)
    blocked, local = _blocked(value, rows)
    written = jax.vmap(
        lambda block, ids, new: block.at[ids].set(new, mode="promise_in_bounds", unique_indices=True)
    )(blocked, local, jnp.reshape(values, local.shape + (value.shape[1],)))
    return written.reshape(value.shape)


def _blocked(value, rows):
    """JAX: a (K, d) matrix as (S, K / S, d) and (S, n) global row ids as ids within their block."""
    import jax.numpy as jnp

    blocks = rows.shape[0]
    size = value.shape[0] // blocks
    offsets = jnp.arange(blocks, dtype=rows.dtype)[:, None] * size
    return value.reshape(blocks, size, value.shape[1]), rows - offsets


def take_rows(matrix, labels):
    """Rows `labels` of a (K, d) matrix, as (B, d)."""
    if is_tensorflow():
        return _tensorflow().take_rows(matrix, labels)
    return keras.ops.take(matrix, labels, axis=0)


def segment_sum(data, segment_ids, num_segments):
    """Per-segment sums of the rows of `data` (ids in any order)."""
    if is_tensorflow():
        return _tensorflow().segment_sum(data, segment_ids, num_segments)
    return keras.ops.segment_sum(data, segment_ids, num_segments=num_segments)


def all_reduce_sum(*values):
    """Sums over `tf.distribute` replicas on TensorFlow; the identity elsewhere."""
    if is_tensorflow():
        return _tensorflow().all_reduce_sum(*values)
    return values


def num_replicas():
    """Replicas in sync of the current `tf.distribute` strategy (1 without one, and off TensorFlow)."""
    if is_tensorflow():
        return _tensorflow().tf.distribute.get_strategy().num_replicas_in_sync
    return 1


def replica_share(value):
    """`value` / the number of `tf.distribute` replicas: this replica's share of a global mean.

    The rule Keras applies to a compiled loss (each replica returns its
    share; the optimiser sums the replicas' gradients). Off TensorFlow,
    `keras.distribution` partitions one global computation, so the value is
    returned as it is.
    """
    replicas = num_replicas()
    return value if replicas == 1 else value / float(replicas)


def mark_invalid(values, invalid):
    """NaN where `invalid` (a (B,) bool) holds, broadcast over the trailing axes of `values`.

    Args:
        values: float tensor whose first axis is B.
        invalid: bool (B,).

    Returns:
        `values` unchanged where valid (multiplying by 1 keeps every value),
        NaN in the rows of invalid entries. The NaN is a factor, not an added
        constant, so it also reaches the gradient: the backward pass through
        an invalid row is NaN, and a training step on it leaves NaN weights
        rather than training on the other rows as if nothing happened.
    """
    factor = keras.ops.cast(keras.ops.where(invalid, np.nan, 1.0), values.dtype)
    return values * keras.ops.reshape(factor, (-1,) + (1,) * (len(values.shape) - 1))
