"""Argument and tensor validation shared by the ops.

Static problems (wrong rank, float labels, mismatched static dimensions) raise
``ValueError``/``TypeError`` at call or trace time. Problems that only show in
the values (label range, dynamic batch mismatch) are checked with
``tf.debugging`` assertions, which raise ``tf.errors.InvalidArgumentError``
eagerly and inside ``tf.function``. XLA compiles assertions out; the ops then
rely on ``tf.nn.sparse_softmax_cross_entropy_with_logits``, whose XLA kernel
returns NaN for an out-of-range label, so a bad label is never silently used.
"""

import math

import tensorflow as tf


def compute_dtype(*tensors):
    """Returns the dtype the ops compute in: float64 if any input is, else float32.

    Args:
        *tensors: tensors whose dtypes decide.

    Returns:
        `tf.float64` or `tf.float32` (half precision inputs are upcast).
    """
    if any(t.dtype == tf.float64 for t in tensors):
        return tf.float64
    return tf.float32


def check_float(tensor, name):
    """Converts `tensor` and checks that it has a floating dtype.

    Args:
        tensor: array-like.
        name: argument name used in the error message.

    Returns:
        The tensor.
    """
    tensor = tf.convert_to_tensor(tensor)
    if not tensor.dtype.is_floating:
        raise TypeError(
            f"`{name}` must be a floating point tensor. Received dtype={tensor.dtype.name}"
        )
    return tensor


def check_rank(tensor, rank, name, hint=""):
    """Raises ValueError if the static rank of `tensor` is known and differs."""
    if tensor.shape.rank is not None and tensor.shape.rank != rank:
        raise ValueError(
            f"`{name}` must have rank {rank}. Received shape={tensor.shape}{hint}"
        )


def check_labels(labels, num_classes, batch_size_tensor, name="labels"):
    """Validates integer class labels of shape (B,) in [0, num_classes).

    Args:
        labels: integer tensor of shape (B,).
        num_classes: int or scalar tensor, number of classes K.
        batch_size_tensor: the tensor whose first dimension is B (the features).
        name: argument name used in messages.

    Returns:
        `labels` as an int32 tensor, with runtime assertions attached.
    """
    labels = tf.convert_to_tensor(labels)
    if not labels.dtype.is_integer:
        raise TypeError(
            f"`{name}` must be an integer tensor of class ids (sparse labels). "
            f"Received dtype={labels.dtype.name}"
        )
    check_rank(labels, 1, name, hint=" (expected (batch,) class ids, not one-hot)")
    batch = batch_size_tensor.shape[0]
    if batch is not None and labels.shape[0] is not None and batch != labels.shape[0]:
        raise ValueError(
            f"`{name}` has batch size {labels.shape[0]} but the features have "
            f"batch size {batch}."
        )
    labels = tf.cast(labels, tf.int32)
    shown_k = num_classes if isinstance(num_classes, int) else "K"
    assertions = [
        tf.debugging.assert_equal(
            tf.shape(labels)[0],
            tf.shape(batch_size_tensor)[0],
            message=f"`{name}` and the features have different batch sizes",
        ),
        tf.debugging.assert_non_negative(
            labels, message=f"`{name}` must be in [0, num_classes); found a negative label"
        ),
        tf.debugging.assert_less(
            labels,
            tf.cast(num_classes, tf.int32),
            message=f"`{name}` must be in [0, num_classes={shown_k}); found a label >= num_classes",
        ),
    ]
    with tf.control_dependencies(assertions):
        return tf.identity(labels)


def check_feature_dims(features, kernel):
    """Checks that features (B, d) and kernel (d, K) agree on d.

    Returns:
        `features` with a runtime assertion attached when d is not static.
    """
    check_rank(features, 2, "features", hint=" (expected (batch, dim))")
    check_rank(kernel, 2, "kernel", hint=" (expected (dim, num_classes))")
    d_feat, d_kernel = features.shape[-1], kernel.shape[0]
    if d_feat is not None and d_kernel is not None:
        if d_feat != d_kernel:
            raise ValueError(
                f"Feature dimension {d_feat} does not match the kernel's input "
                f"dimension {d_kernel} (features {features.shape}, kernel {kernel.shape})."
            )
        return features
    assertion = tf.debugging.assert_equal(
        tf.shape(features)[-1],
        tf.shape(kernel)[0],
        message="Feature dimension does not match the kernel's input dimension",
    )
    with tf.control_dependencies([assertion]):
        return tf.identity(features)


def check_non_negative_scalar(value, name):
    """Validates a hyperparameter that must be a finite number >= 0.

    Python numbers are checked immediately; tensors get runtime assertions.

    Args:
        value: Python number or scalar tensor.
        name: argument name used in messages.

    Returns:
        The value (a float, or a float tensor with assertions attached).
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"`{name}` must be a finite number >= 0. Received: {name}={value}")
        return float(value)
    value = tf.convert_to_tensor(value)
    if not value.dtype.is_floating and not value.dtype.is_integer:
        raise TypeError(f"`{name}` must be a number. Received dtype={value.dtype.name}")
    check_rank(value, 0, name)
    value = tf.cast(value, tf.float32) if value.dtype.is_integer else value
    assertions = [
        tf.debugging.assert_all_finite(value, message=f"`{name}` must be finite"),
        tf.debugging.assert_non_negative(value, message=f"`{name}` must be >= 0"),
    ]
    with tf.control_dependencies(assertions):
        return tf.identity(value)


def check_integer_margin(margin, allowed=(1, 2, 3, 4)):
    """Validates the integer angular margin m of L-Softmax / A-Softmax."""
    if isinstance(margin, bool) or not isinstance(margin, int) or margin not in allowed:
        raise ValueError(f"`margin` must be an integer in {list(allowed)}. Received: margin={margin}")
    return margin


def check_positive(value, name):
    """Validates a Python hyperparameter that must be a finite number > 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"`{name}` must be a finite number > 0. Received: {name}={value}")
    return float(value)


def check_range(value, name, low, high):
    """Validates a Python hyperparameter in [low, high)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not low <= value < high
    ):
        raise ValueError(f"`{name}` must be in [{low}, {high}). Received: {name}={value}")
    return float(value)


def prepare_head_inputs(features, kernel, labels):
    """The checks every margin op starts with.

    Args:
        features: float (B, d).
        kernel: float (d, K).
        labels: int (B,).

    Returns:
        (features, kernel, labels) cast to the compute dtype / int32, with
        the label and shape assertions attached.
    """
    features = check_float(features, "features")
    kernel = check_float(kernel, "kernel")
    features = check_feature_dims(features, kernel)
    num_classes = kernel.shape[-1]
    if num_classes is None:
        num_classes = tf.shape(kernel)[-1]
    labels = check_labels(labels, num_classes, features)
    dtype = compute_dtype(features, kernel)
    return tf.cast(features, dtype), tf.cast(kernel, dtype), labels


def check_non_negative(value, name):
    """Validates a Python hyperparameter that must be a finite number >= 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"`{name}` must be a finite number >= 0. Received: {name}={value}")
    return float(value)
