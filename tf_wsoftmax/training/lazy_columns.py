"""Optimisers that leave a class matrix's untouched columns alone: Partial FC's sparse update."""

import keras


class _Bookkeeping:
    """The slots per variable path and the built variables, kept out of the optimizer's variable
    tracking (a list or dict attribute of an optimizer would be tracked as its own variables)."""

    def __init__(self):
        self.slots_by_path = {}
        self.variables = []


class LazyColumns:
    """Mixin for a Keras optimizer: columns with an all-zero gradient keep their value and slots.

    With class sampling (Partial FC) a head's unsampled columns get an
    exactly zero gradient (their kernel penalty is left out too, see
    `MarginHead.training_pass`). A zero gradient is not enough for momentum
    SGD: the momentum buffer m <- 0.9 m still moves the column, and so would
    decoupled weight decay. An optimizer whose update knows columns
    (`LazyColumnSGD`, `column_update = True`) updates the touched columns
    only, in one pass. For any other optimizer this mixin snapshots the
    registered (d, K) variables and every slot the optimizer made for them
    (`add_variable_from_reference`), lets the optimizer apply its update,
    and restores the columns whose gradient is all zero: one elementwise
    select over (d, K) per slot per step.

    A sampled column whose gradient is exactly zero (a negative whose
    softmax probability underflows to 0, with no weight decay) counts as
    untouched too: the update is "lazy" in the sense of TensorFlow's sparse
    (IndexedSlices) updates and LazyAdam, with the rows of the step decided
    by the gradient. Adam-type optimizers keep one step count for all
    columns, so a column's bias correction counts the steps it was frozen.

    Args:
        lazy_column_paths: paths (`variable.path`) of the variables to treat
            so; `lazy_columns(variables)` adds more. Defaults to ().
        *args, **kwargs: the optimizer's own arguments.
            `gradient_accumulation_steps` is refused (a step's gradient would
            not tell the columns of the accumulated update).
    """

    # Whether the optimizer's own `update_step` leaves untouched columns alone (no snapshots).
    column_update = False

    def __init__(self, *args, lazy_column_paths=(), **kwargs):
        super().__init__(*args, **kwargs)
        if self.gradient_accumulation_steps:
            raise ValueError(
                f"`{type(self).__name__}` does not support `gradient_accumulation_steps`. "
                f"Received: gradient_accumulation_steps={self.gradient_accumulation_steps}"
            )
        self.lazy_column_paths = tuple(lazy_column_paths)
        self._bookkeeping = _Bookkeeping()

    def lazy_columns(self, variables):
        """Registers (d, K) variables whose untouched columns must not move.

        Args:
            variables: the variables (e.g. `[head.kernel]`).
        """
        for variable in variables:
            if len(variable.shape) != 2:
                raise ValueError(f"Lazy columns need a 2-D variable. Received: {variable.path} of shape {variable.shape}")
            if variable.path not in self.lazy_column_paths:
                self.lazy_column_paths += (variable.path,)

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
            touched = keras.ops.any(keras.ops.not_equal(keras.ops.convert_to_tensor(grad), 0), axis=0)  # (K,)
            holders = [variable] + self._bookkeeping.slots_by_path.get(variable.path, [])
            saved.append((touched, [(holder, keras.ops.copy(holder)) for holder in holders]))  # a copy: TF reads alias
        result = super().apply(grads, trainable_variables)
        for touched, snapshots in saved:
            for holder, before in snapshots:
                holder.assign(keras.ops.where(touched[None, :], keras.ops.convert_to_tensor(holder), before))
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
        return config


@keras.saving.register_keras_serializable(package="tf_wsoftmax")
class LazyColumnSGD(LazyColumns, keras.optimizers.SGD):
    """`keras.optimizers.SGD` whose registered class matrices update only the columns a step touched.

    The optimizer of Partial FC training (`sample_rate` < 1): a class
    sampled in a step moves as with `SGD` (the same expressions, so the same
    numbers); any other column keeps its value and its momentum. Its update
    of a registered (d, K) variable is SGD's, masked by the columns whose
    gradient is not all zero: one pass over the kernel and its momentum
    (reading the gradient once more to find the columns), no snapshot. The
    decoupled `weight_decay` of a registered variable is applied in that
    pass, to the touched columns only (Keras' own, applied to every column
    before the update, is switched off for it). `MarginClassifier.compile`
    and `TrainStep` register a sampling head's kernel themselves.

    Args:
        learning_rate, momentum, nesterov, ...: as `keras.optimizers.SGD`.
        lazy_column_paths: as `LazyColumns`. Defaults to ().

    Example:
    >>> import keras
    >>> from tf_wsoftmax.layers import NormalizedDense
    >>> head = NormalizedDense(100, sample_rate=0.1)
    >>> head.build((None, 8))
    >>> optimizer = LazyColumnSGD(0.01, momentum=0.9)
    >>> optimizer.lazy_columns([head.kernel])
    """

    column_update = True

    def lazy_columns(self, variables):
        variables = list(variables)
        super().lazy_columns(variables)
        if self.weight_decay:
            if self.built:
                raise ValueError(
                    "Register the lazy columns of a `LazyColumnSGD` with `weight_decay` before it is built (its "
                    "decay of a registered kernel is applied to the touched columns only)."
                )
            self.exclude_from_weight_decay(var_list=variables)

    def update_step(self, gradient, variable, learning_rate):
        path = self._path_of(variable)
        if path not in self.lazy_column_paths:
            return super().update_step(gradient, variable, learning_rate)
        learning_rate = keras.ops.cast(learning_rate, variable.dtype)
        gradient = keras.ops.cast(gradient, variable.dtype)
        touched = keras.ops.any(keras.ops.not_equal(gradient, 0), axis=0)[None, :]  # (1, K)
        value = keras.ops.convert_to_tensor(variable)
        if self.weight_decay:  # as `_apply_weight_decay` writes it, for the touched columns
            value = value - value * keras.ops.cast(self.weight_decay, variable.dtype) * learning_rate
        if self.momentum != 0:
            m = self._bookkeeping.slots_by_path[path][0]
            momentum = keras.ops.cast(self.momentum, variable.dtype)
            old = keras.ops.convert_to_tensor(m)
            new = keras.ops.subtract(keras.ops.multiply(old, momentum), keras.ops.multiply(gradient, learning_rate))
            self.assign(m, keras.ops.where(touched, new, old))
            if self.nesterov:
                step = keras.ops.subtract(keras.ops.multiply(new, momentum), keras.ops.multiply(gradient, learning_rate))
            else:
                step = new
            updated = keras.ops.add(value, step)
        else:
            updated = keras.ops.subtract(value, keras.ops.multiply(gradient, learning_rate))
        self.assign(variable, keras.ops.where(touched, updated, keras.ops.convert_to_tensor(variable)))


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
