"""Argument and tensor validation shared by the ops (any Keras backend).

Static problems (wrong rank, float labels, mismatched static dimensions) raise
``ValueError``/``TypeError`` at call or trace time on every backend. Problems
that only show in the values (label range, a dynamic batch mismatch, a
negative alpha tensor) are checked where the values are known:

- TensorFlow: ``tf.debugging`` assertions, which raise
  ``tf.errors.InvalidArgumentError`` eagerly and inside ``tf.function``. XLA
  compiles assertions out (logging a warning for each), so they are not built
  in functions XLA compiles; the ops then rely on TensorFlow's sparse
  cross-entropy, whose XLA kernel returns NaN for an out-of-range label, and
  `TrainStep` checks the labels in a plain ``tf.function`` before its XLA step.
- JAX (and other backends): concrete values are checked with NumPy and raise
  ``ValueError``. Inside ``jax.jit`` nothing can raise, so the ops return NaN
  in the rows of an invalid label (`label_errors` + `_backend.mark_invalid`)
  and a NaN alpha for an invalid alpha: a bad value shows as a NaN loss and
  is never silently used.
"""

import math

import keras
import numpy as np

from tf_wsoftmax.ops import _backend


def dtype_name(tensor):
    """The tensor's dtype as Keras names it ("float32", "int64", ...)."""
    return keras.backend.standardize_dtype(tensor.dtype)


def _is_float(tensor):
    return "float" in dtype_name(tensor)


def _is_integer(tensor):
    return "int" in dtype_name(tensor)


def rank(tensor):
    """The static rank, or None if unknown (a TensorFlow tensor of unknown shape)."""
    try:
        return len(tensor.shape)
    except (TypeError, ValueError):
        return None


def compute_dtype(*tensors):
    """Returns the dtype the ops compute in: float64 if any input is, else float32.

    Args:
        *tensors: tensors whose dtypes decide.

    Returns:
        "float64" or "float32" (half precision inputs are upcast).
    """
    if any(dtype_name(t) == "float64" for t in tensors):
        return "float64"
    return "float32"


def as_dtype(value, dtype):
    """A Python number or tensor as a tensor of `dtype`.

    Python numbers are converted straight to `dtype` (`keras.ops.cast` would
    pass them through float32 first, and 0.7 would lose digits in float64).
    """
    if isinstance(value, (int, float)):
        return keras.ops.convert_to_tensor(value, dtype=dtype)
    return keras.ops.cast(value, dtype)


def check_float(tensor, name):
    """Converts `tensor` and checks that it has a floating dtype.

    Args:
        tensor: array-like.
        name: argument name used in the error message.

    Returns:
        The tensor.
    """
    tensor = keras.ops.convert_to_tensor(tensor)
    if not _is_float(tensor):
        raise TypeError(f"`{name}` must be a floating point tensor. Received dtype={dtype_name(tensor)}")
    return tensor


def check_rank(tensor, expected, name, hint=""):
    """Raises ValueError if the static rank of `tensor` is known and differs."""
    actual = rank(tensor)
    if actual is not None and actual != expected:
        raise ValueError(f"`{name}` must have rank {expected}. Received shape={tuple(tensor.shape)}{hint}")


def label_errors(labels, num_classes):
    """Bool (B,) mask of labels outside [0, num_classes)."""
    return keras.ops.logical_or(labels < 0, labels >= num_classes)


def check_labels(labels, num_classes, batch_size_tensor, name="labels"):
    """Validates integer class labels of shape (B,) in [0, num_classes).

    Args:
        labels: integer tensor of shape (B,).
        num_classes: int (or, on TensorFlow, a scalar tensor), number of classes K.
        batch_size_tensor: the tensor whose first dimension is B (the features).
        name: argument name used in messages.

    Returns:
        `labels` as an int32 tensor (with run-time assertions attached on
        TensorFlow).

    Raises:
        TypeError, ValueError: as the module docstring says.
    """
    labels = keras.ops.convert_to_tensor(labels)
    if not _is_integer(labels):
        raise TypeError(
            f"`{name}` must be an integer tensor of class ids (sparse labels). "
            f"Received dtype={dtype_name(labels)}"
        )
    check_rank(labels, 1, name, hint=" (expected (batch,) class ids, not one-hot)")
    batch = batch_size_tensor.shape[0]
    if batch is not None and labels.shape[0] is not None and batch != labels.shape[0]:
        raise ValueError(f"`{name}` has batch size {labels.shape[0]} but the features have batch size {batch}.")
    labels = keras.ops.cast(labels, "int32")
    shown_k = num_classes if isinstance(num_classes, int) else "K"
    if _backend.is_tensorflow():
        return _backend._tensorflow().assert_labels(labels, num_classes, batch_size_tensor, name, shown_k)
    if _backend.is_concrete(labels):
        values = np.asarray(labels)
        if values.size and values.min() < 0:
            raise ValueError(f"`{name}` must be in [0, num_classes); found a negative label ({values.min()})")
        if values.size and values.max() >= num_classes:
            raise ValueError(
                f"`{name}` must be in [0, num_classes={shown_k}); found a label >= num_classes ({values.max()})"
            )
    return labels


def mark_invalid_labels(values, labels, num_classes):
    """Rows of `values` whose label is outside [0, K) become NaN where no check could raise.

    On TensorFlow and for concrete labels (already checked by
    `check_labels`) this returns `values` itself; inside a JAX trace it adds
    NaN to the rows of invalid labels (0 elsewhere, which changes no value).

    Args:
        values: (B, ...) float tensor computed from `labels`.
        labels: int32 (B,).
        num_classes: K.

    Returns:
        The values.
    """
    if _backend.is_tensorflow() or _backend.is_concrete(labels):
        return values
    return _backend.mark_invalid(values, label_errors(labels, num_classes))


def check_feature_dims(features, kernel):
    """Checks that features (B, d) and kernel (d, K) agree on d.

    Returns:
        `features` (with a run-time assertion on TensorFlow when d is not static).
    """
    check_rank(features, 2, "features", hint=" (expected (batch, dim))")
    check_rank(kernel, 2, "kernel", hint=" (expected (dim, num_classes))")
    d_feat, d_kernel = features.shape[-1], kernel.shape[0]
    if d_feat is not None and d_kernel is not None:
        if d_feat != d_kernel:
            raise ValueError(
                f"Feature dimension {d_feat} does not match the kernel's input "
                f"dimension {d_kernel} (features {tuple(features.shape)}, kernel {tuple(kernel.shape)})."
            )
        return features
    shape = keras.ops.shape
    return _backend._tensorflow().assert_dims_equal(
        features, shape(features)[-1], shape(kernel)[0], "Feature dimension does not match the kernel's input dimension"
    )


def check_non_negative_scalar(value, name):
    """Validates a hyperparameter that must be a finite number >= 0.

    Python numbers are checked immediately; tensors get run-time assertions
    (TensorFlow), a NumPy check (concrete values) or, inside a JAX trace,
    become NaN when invalid.

    Args:
        value: Python number or scalar tensor.
        name: argument name used in messages.

    Returns:
        The value (a float, or a float tensor).
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _non_negative(float(value), name)
    value = keras.ops.convert_to_tensor(value)
    if not _is_float(value) and not _is_integer(value):
        raise TypeError(f"`{name}` must be a number. Received dtype={dtype_name(value)}")
    check_rank(value, 0, name)
    value = keras.ops.cast(value, "float32") if _is_integer(value) else value
    if _backend.is_tensorflow():
        return _backend._tensorflow().assert_non_negative_scalar(value, name)
    if _backend.is_concrete(value):
        _non_negative(float(value), name)
        return value
    valid = keras.ops.logical_and(keras.ops.isfinite(value), value >= 0)
    return keras.ops.where(valid, value, keras.ops.cast(np.nan, value.dtype))


def _non_negative(value, name):
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"`{name}` must be a finite number >= 0. Received: {name}={value}")
    return value


def num_classes_of(kernel, axis):
    """K from a kernel's static shape (or, on TensorFlow, its dynamic shape)."""
    static = kernel.shape[axis]
    return static if static is not None else keras.ops.shape(kernel)[axis]


def prepare_head_inputs(features, kernel, labels):
    """The checks every margin op starts with.

    Args:
        features: float (B, d).
        kernel: float (d, K).
        labels: int (B,).

    Returns:
        (features, kernel, labels) cast to the compute dtype / int32, with
        the label and shape checks applied.
    """
    features = check_float(features, "features")
    kernel = check_float(kernel, "kernel")
    features = check_feature_dims(features, kernel)
    labels = check_labels(labels, num_classes_of(kernel, -1), features)
    dtype = compute_dtype(features, kernel)
    return keras.ops.cast(features, dtype), keras.ops.cast(kernel, dtype), labels
