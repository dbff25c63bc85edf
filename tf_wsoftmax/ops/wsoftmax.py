"""W-Softmax logits (Li & Wang 2019, Eq. 1 and Eq. 10-13) as pure tensor functions."""

import tensorflow as tf

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


def wsoftmax_logits_from_cosine_logits(logits, normalized_kernel, labels, alpha):
    """Applies the W-Softmax weight bias to precomputed normalised logits.

    With z_j = x . W_j (unit W_j) and g_j = W_y . W_j, Eq. 1 gives for j != y

        x . W~_j = x . (W_j + a W_y) / ||W_j + a W_y||
                 = (z_j + a z_y) / sqrt(1 + a^2 + 2 a g_j),

    and the positive column stays z_y. Only the rows W_y . W (B, K) are
    formed, one (B, d) x (d, K) matmul, never a (B, K, d) tensor. The norm is
    floored like `tf.math.l2_normalize` (EPSILON), so antipodal class vectors
    with alpha = 1 give a finite 0 logit, as normalising the zero vector does.

    Callers are expected to have validated `labels` (see `wsoftmax_logits`).

    Args:
        logits: (B, K) tensor z = x . W with unit-norm columns W.
        normalized_kernel: (d, K) tensor W with unit-norm columns.
        labels: int32 (B,) class ids.
        alpha: float >= 0 (Python number or scalar tensor).

    Returns:
        (B, K) tensor in the dtype of `logits`.
    """
    dtype = logits.dtype
    alpha = tf.cast(alpha, dtype)
    num_classes = tf.shape(logits)[-1]
    target_columns = tf.gather(normalized_kernel, labels, axis=1)  # (d, B): W_y, no (K, d) transpose
    cosines = tf.matmul(target_columns, normalized_kernel, transpose_a=True)  # (B, K): W_y . W_j
    target_logit = tf.gather(logits, labels, batch_dims=1)[:, None]  # (B, 1): z_y
    squared_norm = 1.0 + tf.square(alpha) + 2.0 * alpha * cosines
    biased = (logits + alpha * target_logit) * tf.math.rsqrt(
        tf.maximum(squared_norm, tf.cast(EPSILON, dtype))
    )
    is_target = tf.cast(tf.one_hot(labels, num_classes, dtype=dtype), tf.bool)
    return tf.where(is_target, logits, biased)


def wsoftmax_logits(features, kernel, labels, alpha):
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

    Returns:
        Logits of shape (B, K) in float32 (float64 for float64 inputs), to be
        fed to softmax cross-entropy.

    Raises:
        TypeError: float labels, non-float features or kernel.
        ValueError: wrong ranks, mismatched d or batch, alpha < 0 or
            non-finite (Python alpha).
        tf.errors.InvalidArgumentError: labels outside [0, K), dynamic shape
            mismatches, or a tensor alpha < 0 / non-finite (at run time).

    Example:
    >>> import numpy as np
    >>> x = np.random.randn(4, 3).astype("float32")
    >>> w = np.random.randn(3, 5).astype("float32")
    >>> wsoftmax_logits(x, w, [0, 1, 2, 3], alpha=1.0).shape
    TensorShape([4, 5])
    """
    alpha = checks.check_non_negative_scalar(alpha, "alpha")
    features, kernel, labels = checks.prepare_head_inputs(features, kernel, labels)
    unit_kernel = normalize_kernel(kernel)
    logits = tf.matmul(features, unit_kernel)
    return wsoftmax_logits_from_cosine_logits(logits, unit_kernel, labels, alpha)
