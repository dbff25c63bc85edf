"""W-Softmax logits (Li & Wang 2019, Eq. 1 and Eq. 10-13) as pure tensor functions."""

import tensorflow as tf
from tensorflow.python.ops import control_flow_util

from tf_wsoftmax.ops import checks

# Same floor as `tf.math.l2_normalize`: a vector whose squared norm is below
# EPSILON is scaled by rsqrt(EPSILON) instead of 1 / norm, so the zero vector
# normalises to zero rather than NaN.
EPSILON = 1e-12


def normalize_kernel(kernel):
    """L2-normalises every column (class vector) of a (d, K) kernel.

    Args:
        kernel: float tensor of shape (d, K).

    Returns:
        Tensor of the same shape and dtype whose columns have unit norm
        (zero columns stay zero).
    """
    return tf.math.l2_normalize(kernel, axis=0, epsilon=EPSILON)


def normalized_logits(features, kernel):
    """Plain logits on normalised class vectors: x . W_j / ||W_j||.

    This is the test-time path of W-Softmax and its alpha = 0 case.

    Args:
        features: float tensor (B, d). Half precision is computed in float32.
        kernel: float tensor (d, K), unnormalised.

    Returns:
        float32 (float64 for float64 inputs) tensor of shape (B, K).
    """
    features = checks.check_float(features, "features")
    kernel = checks.check_float(kernel, "kernel")
    features = checks.check_feature_dims(features, kernel)
    dtype = checks.compute_dtype(features, kernel)
    return tf.matmul(tf.cast(features, dtype), normalize_kernel(tf.cast(kernel, dtype)))


BIAS_GRADIENTS = ("full", "stop")


@tf.custom_gradient
def _gather_columns_scatter_gradient(matrix, labels):
    """`tf.gather(matrix, labels, axis=1)` whose gradient is one element-wise scatter-add.

    TensorFlow's own gradient of a column gather transposes the whole (d, K)
    gradient around a row scatter; inside XLA that transpose costs more than
    the scatter itself, while an element-wise scatter into (d, K) needs none.
    Outside XLA, TensorFlow's scatter kernel is the slower one, so this is
    used only in XLA-compiled functions (see `_gather_columns`).
    """
    columns = tf.gather(matrix, labels, axis=1)

    def gradient(upstream):
        rows = tf.broadcast_to(tf.range(tf.shape(matrix)[0])[:, None], tf.shape(upstream))
        cols = tf.broadcast_to(labels[None, :], tf.shape(upstream))
        indices = tf.stack([tf.reshape(rows, [-1]), tf.reshape(cols, [-1])], axis=1)
        return tf.scatter_nd(indices, tf.reshape(upstream, [-1]), tf.shape(matrix)), None

    return columns, gradient


def _gather_columns(matrix, labels):
    """Columns `labels` of a (d, K) matrix, with the faster gradient for where it is compiled."""
    if control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()):
        return _gather_columns_scatter_gradient(matrix, labels)
    return tf.gather(matrix, labels, axis=1)


def check_bias_gradient(bias_gradient):
    """Validates the W-Softmax backward mode ("full" or "stop").

    Args:
        bias_gradient: the mode name.

    Returns:
        The mode name.
    """
    if bias_gradient not in BIAS_GRADIENTS:
        raise ValueError(
            f"`bias_gradient` must be one of {BIAS_GRADIENTS}. Received: bias_gradient={bias_gradient!r}"
        )
    return bias_gradient


def wsoftmax_logits_from_cosine_logits(
    logits, normalized_kernel, labels, alpha, bias_gradient="full", features=None
):
    """Applies the W-Softmax weight bias to precomputed normalised logits.

    With z_j = x . W_j (unit W_j) and g_j = W_y . W_j, Eq. 1 gives for j != y

        x . W~_j = x . (W_j + a W_y) / ||W_j + a W_y||
                 = (z_j + a z_y) / sqrt(1 + a^2 + 2 a g_j),

    and the positive column stays z_y. Only the rows W_y . W (B, K) are
    formed, one (B, d) x (d, K) matmul, never a (B, K, d) tensor. The norm is
    floored like `tf.math.l2_normalize` (EPSILON), so antipodal class vectors
    with alpha = 1 give a finite 0 logit, as normalising the zero vector does.

    Backward modes (the forward value is the same, bit for bit):
    - "full": the exact gradient of Eq. 1. It also reaches W_y through the
      bias a W_y and through the norm ||W_j + a W_y||.
    - "stop": the bias a W_y and the norm are constants of the backward pass.
      Features get their gradient through every logit; W_y only through the
      positive logit x . W_y; W_j only through x . W_j in its own negative
      logit. The cosines W_y . W_j need no backward pass (4 instead of 6
      B*K*d products per step). Needs `features`, because the term
      a x . W_y must pass its gradient to x and not to W_y, which the logits
      z alone cannot separate.

    Callers are expected to have validated `labels` (see `wsoftmax_logits`).

    Args:
        logits: (B, K) tensor z = x . W with unit-norm columns W.
        normalized_kernel: (d, K) tensor W with unit-norm columns.
        labels: int32 (B,) class ids.
        alpha: float >= 0 (Python number or scalar tensor).
        bias_gradient: "full" or "stop". Defaults to "full".
        features: the (B, d) features x behind `logits`; required for "stop".

    Returns:
        (B, K) tensor in the dtype of `logits`.
    """
    check_bias_gradient(bias_gradient)
    dtype = logits.dtype
    alpha = tf.cast(tf.convert_to_tensor(alpha, dtype_hint=dtype), dtype)  # a Python float keeps float64
    num_classes = tf.shape(logits)[-1]
    target_logit = tf.gather(logits, labels, batch_dims=1)[:, None]  # (B, 1): z_y
    if bias_gradient == "stop":
        if features is None:
            raise ValueError(
                'bias_gradient="stop" needs the features behind the logits (`features=`): the '
                "term alpha x . W_y passes its gradient to x only."
            )
        normalized_kernel = tf.stop_gradient(normalized_kernel)
    target_columns = _gather_columns(normalized_kernel, labels)  # (d, B): W_y, no (K, d) transpose
    # ||W_j + a W_y||^2 = 1 + a^2 + 2a W_y . W_j; the factor 2a scales the (d, B) operand of the
    # (B, K) cosine product rather than its result (one elementwise pass over (B, K) fewer).
    scaled_cosines = tf.matmul(2.0 * alpha * target_columns, normalized_kernel, transpose_a=True)
    squared_norm = (1.0 + tf.square(alpha)) + scaled_cosines
    inverse_norm = tf.math.rsqrt(tf.maximum(squared_norm, tf.cast(EPSILON, dtype)))
    bias_logit = target_logit
    if bias_gradient == "stop":
        # Value z_y exactly (z + 0), gradient W_y to the features only.
        through_features = tf.reduce_sum(
            tf.cast(features, dtype) * tf.transpose(target_columns), axis=-1, keepdims=True
        )
        bias_logit = tf.stop_gradient(target_logit) + (through_features - tf.stop_gradient(through_features))
    biased = (logits + alpha * bias_logit) * inverse_norm
    is_target = tf.equal(tf.range(num_classes)[None, :], labels[:, None])  # (B, K) bool, one pass
    return tf.where(is_target, logits, biased)


def wsoftmax_logits(features, kernel, labels, alpha, bias_gradient="full"):
    """W-Softmax training logits (Eq. 1): negatives scored with W~_j.

    Column y_i of row i is x_i . W_y (W normalised); every other column j is
    x_i . normalise(W_j + alpha W_y). alpha = 0 gives `normalized_logits`.
    Cost is O(B K d), about one extra matmul over softmax.

    Args:
        features: float tensor (B, d); not normalised (the paper keeps ||x||).
            float16/bfloat16 inputs are computed in float32.
        kernel: float tensor (d, K) of class vectors; columns are
            L2-normalised inside.
        labels: integer tensor (B,) of class ids in [0, K).
        alpha: finite float >= 0, Python number or scalar tensor.
        bias_gradient: "full" (the exact gradient of Eq. 1) or "stop" (the
            bias alpha W_y and the norm ||W_j + alpha W_y|| are constants in
            the backward pass; see `wsoftmax_logits_from_cosine_logits`).
            The forward value is the same. Defaults to "full".

    Returns:
        Logits of shape (B, K) in float32 (float64 for float64 inputs), to be
        fed to softmax cross-entropy.

    Raises:
        TypeError: float labels, non-float features or kernel.
        ValueError: wrong ranks, mismatched d or batch, alpha < 0 or
            non-finite (Python alpha), unknown `bias_gradient`.
        tf.errors.InvalidArgumentError: labels outside [0, K), dynamic shape
            mismatches, or a tensor alpha < 0 / non-finite (at run time).

    Example:
    >>> import numpy as np
    >>> x = np.random.randn(4, 3).astype("float32")
    >>> w = np.random.randn(3, 5).astype("float32")
    >>> wsoftmax_logits(x, w, [0, 1, 2, 3], alpha=1.0).shape
    TensorShape([4, 5])
    """
    check_bias_gradient(bias_gradient)
    alpha = checks.check_non_negative_scalar(alpha, "alpha")
    features, kernel, labels = checks.prepare_head_inputs(features, kernel, labels)
    unit_kernel = normalize_kernel(kernel)
    logits = tf.matmul(features, unit_kernel)
    return wsoftmax_logits_from_cosine_logits(
        logits, unit_kernel, labels, alpha, bias_gradient=bias_gradient, features=features
    )
