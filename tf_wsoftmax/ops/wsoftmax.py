"""W-Softmax logits (Li & Wang 2019, Eq. 1 and Eq. 10-13) as pure tensor functions."""

from keras import ops

from tf_wsoftmax.declarations import declaration_of
from tf_wsoftmax.ops import _backend
from tf_wsoftmax.ops import checks

# The backward modes, their default ("stop") and their check: declared once (`tf_wsoftmax.declarations`).
BIAS_GRADIENT = declaration_of("wsoftmax", "bias_gradient")
BIAS_GRADIENTS = BIAS_GRADIENT.choices

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
    return l2_normalize(kernel, axis=0)


def l2_normalize(x, axis):
    """x / ||x|| along `axis`, as `tf.math.l2_normalize`: x * rsqrt(max(sum x^2, EPSILON)).

    Args:
        x: float tensor.
        axis: the axis to normalise along.

    Returns:
        Tensor like `x` (zero vectors stay zero).
    """
    squared = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return x * ops.rsqrt(ops.maximum(squared, EPSILON))


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
    return ops.matmul(ops.cast(features, dtype), normalize_kernel(ops.cast(kernel, dtype)))


def check_bias_gradient(bias_gradient):
    """Validates the W-Softmax backward mode against its declaration ("stop" or "full").

    Args:
        bias_gradient: the mode name.

    Returns:
        The mode name.
    """
    return BIAS_GRADIENT.check(bias_gradient)


def wsoftmax_logits_from_cosine_logits(logits, normalized_kernel, labels, alpha, bias_gradient, features=None):
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

    Takes checked values (`wsoftmax_logits` and `NormalizedDense` check them
    once): validated labels, alpha >= 0 and a declared `bias_gradient`.

    Args:
        logits: (B, K) tensor z = x . W with unit-norm columns W.
        normalized_kernel: (d, K) tensor W with unit-norm columns.
        labels: int32 (B,) class ids.
        alpha: float >= 0 (Python number or scalar tensor).
        bias_gradient: "stop" or "full".
        features: the (B, d) features x behind `logits`; required for "stop".

    Returns:
        (B, K) tensor in the dtype of `logits`.
    """
    dtype = checks.dtype_name(logits)
    alpha = checks.as_dtype(alpha, dtype)  # a Python float keeps float64
    num_classes = checks.num_classes_of(logits, -1)
    target_logit = _backend.take_per_row(logits, labels)  # (B, 1): z_y
    if bias_gradient == "stop":
        if features is None:
            raise ValueError(
                'bias_gradient="stop" needs the features behind the logits (`features=`): the '
                "term alpha x . W_y passes its gradient to x only."
            )
        normalized_kernel = ops.stop_gradient(normalized_kernel)
    target_columns = _backend.take_columns(normalized_kernel, labels)  # (d, B): W_y, no (K, d) transpose
    # ||W_j + a W_y||^2 = 1 + a^2 + 2a W_y . W_j; the factor 2a scales the (d, B) operand of the
    # (B, K) cosine product rather than its result (one elementwise pass over (B, K) fewer).
    scaled_cosines = _backend.matmul(2.0 * alpha * target_columns, normalized_kernel, transpose_a=True)
    squared_norm = (1.0 + ops.square(alpha)) + scaled_cosines
    inverse_norm = ops.rsqrt(ops.maximum(squared_norm, checks.as_dtype(EPSILON, dtype)))
    bias_logit = target_logit
    if bias_gradient == "stop":
        # Value z_y exactly (z + 0), gradient W_y to the features only.
        through_features = ops.sum(
            ops.cast(features, dtype) * ops.transpose(target_columns), axis=-1, keepdims=True
        )
        bias_logit = ops.stop_gradient(target_logit) + (through_features - ops.stop_gradient(through_features))
    biased = (logits + alpha * bias_logit) * inverse_norm
    is_target = ops.equal(ops.arange(num_classes, dtype="int32")[None, :], labels[:, None])  # (B, K) bool
    return ops.where(is_target, logits, biased)


def wsoftmax_logits(features, kernel, labels, alpha, bias_gradient=BIAS_GRADIENT.default):
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
            The forward value is the same. Defaults to "stop" (the declared
            default of `tf_wsoftmax.declarations`).

    Returns:
        Logits of shape (B, K) in float32 (float64 for float64 inputs), to be
        fed to softmax cross-entropy.

    Raises:
        TypeError: float labels, non-float features or kernel.
        ValueError: wrong ranks, mismatched d or batch, alpha < 0 or
            non-finite (Python alpha), unknown `bias_gradient`.
        tf.errors.InvalidArgumentError: (TensorFlow) labels outside [0, K),
            dynamic shape mismatches, or a tensor alpha < 0 / non-finite (at
            run time). On JAX, concrete bad labels raise ValueError and
            inside `jax.jit` their rows are NaN (see `checks`).

    Example:
    >>> import numpy as np
    >>> x = np.random.randn(4, 3).astype("float32")
    >>> w = np.random.randn(3, 5).astype("float32")
    >>> tuple(wsoftmax_logits(x, w, [0, 1, 2, 3], alpha=1.0).shape)
    (4, 5)
    """
    check_bias_gradient(bias_gradient)
    alpha = checks.check_non_negative_scalar(alpha, "alpha")
    features, kernel, labels = checks.prepare_head_inputs(features, kernel, labels)
    unit_kernel = normalize_kernel(kernel)
    logits = ops.matmul(features, unit_kernel)
    logits = wsoftmax_logits_from_cosine_logits(
        logits, unit_kernel, labels, alpha, bias_gradient=bias_gradient, features=features
    )
    return checks.mark_invalid_labels(logits, labels, checks.num_classes_of(kernel, -1))
