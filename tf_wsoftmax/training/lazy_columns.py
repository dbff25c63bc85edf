"""Optimisers that leave a class matrix's untouched class vectors alone: Partial FC's sparse update.

The registered class matrices are class-major, (K, d), one class vector per
row, as a class-sampling head stores its kernel (`MarginHead.class_major`),
unless registered with `class_axis=1` ((d, K), Keras' `Dense`). The names
keep Partial FC's "columns" (of the (d, K) view)."""

import contextlib

import keras

from tf_wsoftmax.ops import _backend


class _Bookkeeping:
    """The slots per variable path and the built variables, kept out of the optimizer's variable
    tracking (a list or dict attribute of an optimizer would be tracked as its own variables)."""

    def __init__(self):
        self.slots_by_path = {}
        self.variables = []
        self.columns_by_path = {}  # a column step's (W,) class ids per kernel path (`sampled_columns`)


def _touched(gradient, class_axis):
    """The classes whose gradient is not all zero, shaped to select along `class_axis` of a 2-D value.

    Args:
        gradient: the 2-D gradient of a registered class matrix.
        class_axis: 0 for a class-major (K, d) matrix, 1 for a (d, K) one.

    Returns:
        A boolean (K, 1) or (1, K) tensor.
    """
    touched = keras.ops.any(keras.ops.not_equal(keras.ops.convert_to_tensor(gradient), 0), axis=1 - class_axis)
    return touched[:, None] if class_axis == 0 else touched[None, :]


class LazyColumns:
    """Mixin for a Keras optimizer: class vectors with an all-zero gradient keep their value and slots.

    With class sampling (Partial FC) a head's unsampled classes get an
    exactly zero gradient (their kernel penalty is left out too, see
    `MarginHead.training_pass`). A zero gradient is not enough for momentum
    SGD: the momentum buffer m <- 0.9 m still moves the class vector, and so
    would decoupled weight decay. An optimizer whose update knows the
    classes (`LazyColumnSGD`, `column_update = True`) updates the touched
    ones only. For any other optimizer this mixin snapshots the registered
    class-major (K, d) variables (row j: class j's vector) and every slot
    the optimizer made for them (`add_variable_from_reference`), lets the
    optimizer apply its update, and restores the rows whose gradient is all
    zero: one elementwise select over (K, d) per slot per step.

    A sampled class whose gradient is exactly zero (a negative whose
    softmax probability underflows to 0, with no weight decay) counts as
    untouched too: the update is "lazy" in the sense of TensorFlow's sparse
    (IndexedSlices) updates and LazyAdam, with the rows of the step decided
    by the gradient. Adam-type optimizers keep one step count for all
    classes, so a class's bias correction counts the steps it was frozen.

    A variable registered with `lazy_columns(variables, class_axis=1)` is a
    (d, K) class matrix (Keras' `Dense` layout, one class per column)
    instead: its untouched columns are kept.

    Args:
        lazy_column_paths: paths (`variable.path`) of the variables to treat
            so; `lazy_columns(variables)` adds more. Defaults to ().
        lazy_class_axes: each path's axis of the classes (0: class-major
            (K, d), 1: (d, K)), in the order of `lazy_column_paths`.
            Defaults to None: 0 for every path.
        *args, **kwargs: the optimizer's own arguments.
            `gradient_accumulation_steps` is refused (a step's gradient would
            not tell the columns of the accumulated update).
    """

    # Whether the optimizer's own `update_step` leaves untouched columns alone (no snapshots).
    column_update = False

    def __init__(self, *args, lazy_column_paths=(), lazy_class_axes=None, **kwargs):
        super().__init__(*args, **kwargs)
        if self.gradient_accumulation_steps:
            raise ValueError(
                f"`{type(self).__name__}` does not support `gradient_accumulation_steps`. "
                f"Received: gradient_accumulation_steps={self.gradient_accumulation_steps}"
            )
        self.lazy_column_paths = tuple(lazy_column_paths)
        axes = (0,) * len(self.lazy_column_paths) if lazy_class_axes is None else tuple(lazy_class_axes)
        if len(axes) != len(self.lazy_column_paths) or any(axis not in (0, 1) for axis in axes):
            raise ValueError(
                "`lazy_class_axes` needs one axis, 0 or 1, per path of `lazy_column_paths`. "
                f"Received: lazy_column_paths={self.lazy_column_paths}, lazy_class_axes={lazy_class_axes}"
            )
        self.lazy_class_axes = axes
        self._bookkeeping = _Bookkeeping()

    def lazy_columns(self, variables, class_axis=0):
        """Registers class matrices whose untouched classes must not move.

        Args:
            variables: the 2-D variables (e.g. `[head.kernel]`).
            class_axis: their axis of the classes: 0 (the default) for
                class-major (K, d) variables, one class per row, as a
                class-sampling head stores its kernel (`MarginHead.class_axis`
                says which a head has); 1 for (d, K) variables, one class
                per column (Keras' `Dense`).

        Raises:
            ValueError: a variable that is not 2-D, a `class_axis` other than
                0 or 1, or a variable registered before with the other axis.
        """
        if class_axis not in (0, 1):
            raise ValueError(f"`class_axis` must be 0 (K, d) or 1 (d, K). Received: class_axis={class_axis}")
        for variable in variables:
            if len(variable.shape) != 2:
                raise ValueError(f"Lazy columns need a 2-D variable. Received: {variable.path} of shape {variable.shape}")
            if variable.path in self.lazy_column_paths:
                registered = self.class_axis_of(variable.path)
                if registered != class_axis:
                    raise ValueError(
                        f"{variable.path} is registered with class_axis={registered}; received class_axis={class_axis}."
                    )
                continue
            self.lazy_column_paths += (variable.path,)
            self.lazy_class_axes += (class_axis,)

    def class_axis_of(self, path):
        """The axis of the classes of the registered variable at `path` (0: (K, d), 1: (d, K))."""
        return self.lazy_class_axes[self.lazy_column_paths.index(path)]

    def add_variable_from_reference(self, reference_variable, name=None, initializer="zeros"):
        slot = super().add_variable_from_reference(reference_variable, name=name, initializer=initializer)
        self._bookkeeping.slots_by_path.setdefault(getattr(reference_variable, "path", None), []).append(slot)
        return slot

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._bookkeeping.variables = list(variables)

    def apply(self, grads, trainable_variables=None):
        if self.column_update:
            return super().apply(grads, trainable_variables)
        if not self.built and trainable_variables is not None:
            self.build(trainable_variables)
        grads = list(grads)
        variables = self._bookkeeping.variables if trainable_variables is None else list(trainable_variables)
        saved = []
        for grad, variable in zip(grads, variables):
            if grad is None or variable.path not in self.lazy_column_paths:
                continue
            touched = _touched(grad, self.class_axis_of(variable.path))
            holders = [variable] + self._bookkeeping.slots_by_path.get(variable.path, [])
            saved.append((touched, [(holder, keras.ops.copy(holder)) for holder in holders]))  # a copy: TF reads alias
        result = super().apply(grads, trainable_variables)
        for touched, snapshots in saved:
            for holder, before in snapshots:
                holder.assign(keras.ops.where(touched, keras.ops.convert_to_tensor(holder), before))
        return result

    def _path_of(self, variable):
        """The Keras path of a variable `update_step` was handed (TensorFlow hands the backend variable)."""
        path = getattr(variable, "path", None)
        if path is not None:
            return path
        return next((v.path for v in self._bookkeeping.variables if getattr(v, "value", None) is variable), None)

    def get_config(self):
        config = super().get_config()
        config["lazy_column_paths"] = list(self.lazy_column_paths)
        config["lazy_class_axes"] = list(self.lazy_class_axes)
        return config


@keras.saving.register_keras_serializable(package="tf_wsoftmax")
class LazyColumnSGD(LazyColumns, keras.optimizers.SGD):
    """`keras.optimizers.SGD` whose registered class matrices update only the classes a step touched.

    The optimizer of Partial FC training (`sample_rate` < 1): a class
    sampled in a step moves as with `SGD` (the same expressions, so the same
    numbers); any other class keeps its vector and its momentum. The
    registered variables are class-major (K, d) kernels (row j: class j's
    vector; `MarginHead.class_major`). Its update of one is SGD's, masked by
    the rows whose gradient is not all zero: one pass over the kernel and its
    momentum (reading the gradient once more to find the rows), no snapshot.
    The decoupled `weight_decay` of a registered variable is applied in that
    pass, to the touched rows only (Keras' own, applied to every row before
    the update, is switched off for it). `MarginClassifier.compile` and
    `TrainStep` register a sampling head's kernel themselves.

    Their train steps (`fit` on TensorFlow and JAX, `TrainStep`) are
    column steps (`tf_wsoftmax.training.column_step`): they differentiate
    the head's sampled (W, d) rows instead of the (K, d) kernel and hand
    this optimizer that gradient with the rows' class ids
    (`sampled_columns`). The update then gathers those rows of the kernel
    and its momentum, applies the same expressions and scatters them back
    (JAX: into the donated buffers; TensorFlow: `scatter_update` of row
    slices, inside XLA and outside), so its cost follows the rate: no pass
    over (K, d).

    Args:
        learning_rate, momentum, nesterov, ...: as `keras.optimizers.SGD`.
        lazy_column_paths: as `LazyColumns`. Defaults to ().

    Example:
    >>> import keras
    >>> from tf_wsoftmax.layers import NormalizedDense
    >>> head = NormalizedDense(100, sample_rate=0.1)
    >>> head.build((None, 8))
    >>> optimizer = LazyColumnSGD(0.01, momentum=0.9)
    >>> tuple(head.kernel.shape)  # class-major: a sampling head's class vectors are rows
    (100, 8)
    >>> optimizer.lazy_columns([head.kernel])
    """

    column_update = True

    def lazy_columns(self, variables, class_axis=0):
        variables = list(variables)
        super().lazy_columns(variables, class_axis)
        if self.weight_decay:
            if self.built:
                raise ValueError(
                    "Register the lazy columns of a `LazyColumnSGD` with `weight_decay` before it is built (its "
                    "decay of a registered kernel is applied to the touched columns only)."
                )
            self.exclude_from_weight_decay(var_list=variables)

    @contextlib.contextmanager
    def sampled_columns(self, columns_by_path):
        """Within it, a registered kernel's gradient is that of the classes (rows) `columns_by_path[path]`.

        What a column step (`tf_wsoftmax.training.column_step`: `fit`,
        `TrainStep`) hands the optimizer: for each registered (K, d) kernel
        the (W, d) gradient of the W rows its step sampled, and here their
        (W,) class ids (distinct). The update then reads and writes those
        rows of the kernel and its momentum only (a gather and a scatter),
        with the expressions of the dense update; a row whose gradient is
        all zero (padding, an underflowed softmax) keeps its value and
        momentum, as in the dense update.

        Args:
            columns_by_path: {kernel path: int32 (W,) class ids}.
        """
        before = dict(self._bookkeeping.columns_by_path)
        self._bookkeeping.columns_by_path.update(columns_by_path)
        try:
            yield
        finally:
            self._bookkeeping.columns_by_path = before

    def _update_rows(self, gradient, variable, learning_rate, path, classes):
        """`update_step` of a (W, d) gradient of the kernel's rows `classes`: those rows alone."""
        learning_rate = keras.ops.cast(learning_rate, variable.dtype)
        gradient = keras.ops.cast(gradient, variable.dtype)
        touched = keras.ops.any(keras.ops.not_equal(gradient, 0), axis=1)[:, None]  # (W, 1)
        # In the draw's order (distinct ids): each row a contiguous window, so sorting them (an
        # argsort and a permuted copy of the (W, d) gradient) would buy no locality.
        before = _backend.gather_rows(variable, classes)
        m = self._bookkeeping.slots_by_path[path][0] if self.momentum != 0 else None
        old = _backend.gather_rows(m, classes) if m is not None else None
        updated, new = self._sgd(before, old, gradient, learning_rate, variable.dtype)
        if m is not None:
            self._write_rows(m, classes, keras.ops.where(touched, new, old))
        self._write_rows(variable, classes, keras.ops.where(touched, updated, before))

    def _sgd(self, value, momentum_value, gradient, learning_rate, dtype):
        """SGD's expressions (decoupled weight decay, momentum, nesterov) on the given values.

        Args:
            value: the kernel's values (all rows, or the gathered ones).
            momentum_value: the momentum slot's values at the same rows, or None without momentum.
            gradient, learning_rate: cast to `dtype`.
            dtype: the variable's dtype.

        Returns:
            (the updated values, the new momentum values or None).
        """
        if self.weight_decay:  # as `_apply_weight_decay` writes it, for the touched rows
            value = value - value * keras.ops.cast(self.weight_decay, dtype) * learning_rate
        if momentum_value is None:
            return keras.ops.subtract(value, keras.ops.multiply(gradient, learning_rate)), None
        momentum = keras.ops.cast(self.momentum, dtype)
        new = keras.ops.subtract(keras.ops.multiply(momentum_value, momentum), keras.ops.multiply(gradient, learning_rate))
        if self.nesterov:
            step = keras.ops.subtract(keras.ops.multiply(new, momentum), keras.ops.multiply(gradient, learning_rate))
        else:
            step = new
        return keras.ops.add(value, step), new

    def _write_rows(self, variable, classes, values):
        if _backend.is_tensorflow():
            _backend.set_rows(variable, classes, values)  # a scatter of row slices into the variable
        else:
            self.assign(variable, _backend.set_rows(keras.ops.convert_to_tensor(variable), classes, values))

    def update_step(self, gradient, variable, learning_rate):
        path = self._path_of(variable)
        if path not in self.lazy_column_paths:
            return super().update_step(gradient, variable, learning_rate)
        classes = self._bookkeeping.columns_by_path.get(path)
        if classes is not None:
            if self.class_axis_of(path) != 0:
                raise ValueError(f"A column step updates class-major (K, d) kernels by rows; {path} is registered (d, K).")
            return self._update_rows(gradient, variable, learning_rate, path, classes)
        learning_rate = keras.ops.cast(learning_rate, variable.dtype)
        gradient = keras.ops.cast(gradient, variable.dtype)
        touched = _touched(gradient, self.class_axis_of(path))  # (K, 1) or (1, K)
        before = keras.ops.convert_to_tensor(variable)
        m = self._bookkeeping.slots_by_path[path][0] if self.momentum != 0 else None
        old = keras.ops.convert_to_tensor(m) if m is not None else None
        updated, new = self._sgd(before, old, gradient, learning_rate, variable.dtype)
        if m is not None:
            self.assign(m, keras.ops.where(touched, new, old))
        self.assign(variable, keras.ops.where(touched, updated, before))


def register_sampled_kernels(optimizer, heads):
    """Registers the kernels of the class-sampling heads with a `LazyColumns` optimizer.

    A `keras.optimizers.LossScaleOptimizer` (what `compile` wraps the
    optimizer in under a "mixed_float16" policy) is looked through: its inner
    optimizer is registered.

    Args:
        optimizer: a Keras optimizer.
        heads: layers; those with `samples_classes` count.

    Raises:
        ValueError: a sampling head with an optimizer that is not `LazyColumns`
            (its unsampled columns would still move through momentum or
            weight decay).
    """
    kernels = [head.kernel for head in heads if getattr(head, "samples_classes", False) and head.kernel.trainable]
    if not kernels:
        return
    inner = optimizer
    while isinstance(inner, keras.optimizers.LossScaleOptimizer):
        inner = inner.inner_optimizer
    if not isinstance(inner, LazyColumns):
        raise ValueError(
            f"A class-sampling head trains with `{type(inner).__name__}`, whose momentum or weight decay "
            "would still move the unsampled columns. Use `tf_wsoftmax.training.LazyColumnSGD` "
            "(e.g. `paper_optimizer(lazy_columns=True)`) to keep them and their slots unchanged."
        )
    inner.lazy_columns(kernels)
