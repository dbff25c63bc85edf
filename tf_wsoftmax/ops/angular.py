"""Multiplicative angular margins: L-Softmax (Liu et al. 2016) and A-Softmax /
SphereFace (Liu et al. 2017)."""

import math

from keras import ops

from tf_wsoftmax.declarations import declaration_of
from tf_wsoftmax.declarations import default_of
from tf_wsoftmax.ops import _backend
from tf_wsoftmax.ops import checks
from tf_wsoftmax.ops.wsoftmax import EPSILON
from tf_wsoftmax.ops.wsoftmax import normalize_kernel

# cos(m t) as a polynomial of c = cos(t) (Chebyshev polynomials T_m), as in
# the original L-Softmax implementation: no arccos, so gradients stay finite
# at t = 0 and t = pi.
_CHEBYSHEV = {
    1: lambda c: c,
    2: lambda c: 2.0 * c**2 - 1.0,
    3: lambda c: 4.0 * c**3 - 3.0 * c,
    4: lambda c: 8.0 * c**4 - 8.0 * c**2 + 1.0,
}


def multiple_angle_psi(cosine, margin):
    """psi(t) = (-1)^k cos(m t) - 2k for t in [k pi/m, (k+1) pi/m] (L-Softmax Eq. 6).

    k is found by comparing cos(t) with the thresholds cos(j pi / m), so the
    function takes cos(t) and never calls arccos. psi is continuous and
    monotonically decreasing on [0, pi].

    Args:
        cosine: tensor of cos(t) values in [-1, 1].
        margin: integer m in {1, 2, 3, 4} (declared: `multiplicative_margin`).

    Returns:
        psi(t), same shape and dtype.
    """
    return _psi(cosine, check_margin(margin))


def check_margin(margin):
    """Validates the integer angular margin m of L-Softmax / A-Softmax against its declaration."""
    return declaration_of("lsoftmax", "multiplicative_margin").check(margin, "margin")


def _psi(cosine, margin):
    """`multiple_angle_psi` of a checked margin."""
    k = ops.zeros_like(cosine)
    for j in range(1, margin):
        k += ops.cast(cosine <= math.cos(j * math.pi / margin), cosine.dtype)
    sign = 1.0 - 2.0 * ops.mod(k, 2.0)  # (-1)^k
    return sign * _CHEBYSHEV[margin](cosine) - 2.0 * k


def lsoftmax_lambda(
    iteration,
    base=default_of("lsoftmax", "lambda_base"),
    gamma=default_of("lsoftmax", "lambda_gamma"),
    power=default_of("lsoftmax", "lambda_power"),
    lambda_min=default_of("lsoftmax", "lambda_min"),
):
    """The original L-Softmax annealing: max(lambda_min, base (1 + gamma iter)^-power).

    Args:
        iteration: training iteration (number or tensor).
        base, gamma, power, lambda_min: schedule constants. Default to L-Softmax's
            declared ones (the MNIST values of the original implementation).

    Returns:
        lambda (a float tensor).
    """
    iteration = ops.cast(iteration, "float32")
    return ops.maximum(lambda_min, base * ops.power(1.0 + gamma * iteration, -power))


def _margin_target(norm_x, norm_w, cos_target, margin, lambda_):
    """(|W||x| psi(t) + lambda |W||x| cos t) / (1 + lambda)."""
    psi = _psi(cos_target, margin)
    lambda_ = checks.as_dtype(lambda_, checks.dtype_name(cos_target))
    return norm_w * norm_x * (psi + lambda_ * cos_target) / (1.0 + lambda_)


def lsoftmax_target(label_logit, feature_norm, kernel_norm, margin, lambda_):
    """L-Softmax's label logit (|W_y||x| psi(t_y) + lambda W_y . x) / (1 + lambda) (Eq. 4-6).

    Elementwise, from z_y = W_y . x and the norms; takes a checked margin.

    Args:
        label_logit: z_y.
        feature_norm: ||x|| (floored like `l2_normalize`).
        kernel_norm: ||W_y|| (floored alike).
        margin: integer m in {1, 2, 3, 4}.
        lambda_: float >= 0, the annealing weight (number or scalar tensor).

    Returns:
        The training logit, shaped like `label_logit`.
    """
    cosine = ops.clip(label_logit / (feature_norm * kernel_norm), -1.0, 1.0)
    return _margin_target(feature_norm, kernel_norm, cosine, margin, lambda_)


def sphereface_target(label_logit, feature_norm, margin, lambda_):
    """A-Softmax's label logit ||x|| (psi(t_y) + lambda cos t_y) / (1 + lambda), from z_y = x . W_y / ||W_y||.

    Elementwise; takes a checked margin.

    Args:
        label_logit: z_y.
        feature_norm: ||x|| (floored like `l2_normalize`).
        margin: integer m in {1, 2, 3, 4}.
        lambda_: float >= 0, the annealing weight.

    Returns:
        The training logit, shaped like `label_logit`.
    """
    cosine = ops.clip(label_logit / feature_norm, -1.0, 1.0)
    return _margin_target(feature_norm, 1.0, cosine, margin, lambda_)


def _feature_norms(features):
    return ops.sqrt(ops.maximum(ops.sum(ops.square(features), -1, keepdims=True), EPSILON))


def lsoftmax_logits(features, kernel, labels, margin, lambda_=0.0):
    """L-Softmax logits (Liu et al. 2016, Eq. 4-6, with the original lambda).

    Non-target columns are W_j . x (no bias, no normalisation). The target
    column is f_y = (|W_y| |x| psi(t_y) + lambda W_y . x) / (1 + lambda).
    margin = 1 with lambda = 0 is bias-free softmax.

    Args:
        features: float (B, d).
        kernel: float (d, K).
        labels: int (B,) in [0, K).
        margin: integer m in {1, 2, 3, 4}.
        lambda_: float >= 0 (number or scalar tensor), the annealing weight.
            Defaults to 0.

    Returns:
        (B, K) logits in float32 (float64 for float64 inputs).
    """
    margin = check_margin(margin)
    lambda_ = checks.check_non_negative_scalar(lambda_, "lambda_")
    features, kernel, labels = checks.prepare_head_inputs(features, kernel, labels)
    logits = ops.matmul(features, kernel)  # the only (B, d) x (d, K) product
    return lsoftmax_logits_from_logits(logits, features, kernel, labels, margin, lambda_)


def lsoftmax_logits_from_logits(logits, features, kernel, labels, margin, lambda_):
    """L-Softmax training logits from the plain logits W_j . x of the same features.

    Args:
        logits: (B, K) x . W.
        features: the (B, d) features x behind them.
        kernel: (d, K) W.
        labels: validated int32 (B,).
        margin: integer m in {1, 2, 3, 4}.
        lambda_: float >= 0, the annealing weight.

    Returns:
        (B, K) logits: `logits` with the target column replaced (Eq. 4-6).
    """
    norm_x = _feature_norms(features)
    kernel_norms = ops.sqrt(ops.maximum(ops.sum(ops.square(kernel), 0), EPSILON))
    norm_w = _backend.take_rows(kernel_norms, labels)[:, None]
    target = lsoftmax_target(_backend.take_per_row(logits, labels), norm_x, norm_w, margin, lambda_)
    return _with_target_column(logits, labels, target)


def _with_target_column(logits, labels, target):
    """`logits` with column labels[i] of row i replaced by target[i] (NaN rows for invalid labels)."""
    num_classes = checks.num_classes_of(logits, -1)
    is_target = ops.equal(ops.arange(num_classes, dtype="int32")[None, :], labels[:, None])
    return checks.mark_invalid_labels(ops.where(is_target, target, logits), labels, num_classes)


def sphereface_logits(features, kernel, labels, margin, lambda_=0.0):
    """A-Softmax / SphereFace logits: L-Softmax with normalised class vectors.

    Non-target columns are |x| cos(t_j); the target column is
    |x| (psi(t_y) + lambda cos t_y) / (1 + lambda). Features are not
    normalised.

    Args:
        features: float (B, d).
        kernel: float (d, K); columns normalised inside.
        labels: int (B,) in [0, K).
        margin: integer m in {1, 2, 3, 4}.
        lambda_: float >= 0, the annealing weight. Defaults to 0.

    Returns:
        (B, K) logits in float32 (float64 for float64 inputs).
    """
    margin = check_margin(margin)
    lambda_ = checks.check_non_negative_scalar(lambda_, "lambda_")
    features, kernel, labels = checks.prepare_head_inputs(features, kernel, labels)
    logits = ops.matmul(features, normalize_kernel(kernel))
    return sphereface_logits_from_logits(logits, features, labels, margin, lambda_)


def sphereface_logits_from_logits(logits, features, labels, margin, lambda_):
    """A-Softmax training logits from the normalised-W logits |x| cos t_j of the same features.

    Args:
        logits: (B, K) x . W_j / ||W_j||.
        features: the (B, d) features x behind them.
        labels: validated int32 (B,).
        margin: integer m in {1, 2, 3, 4}.
        lambda_: float >= 0, the annealing weight.

    Returns:
        (B, K) logits |x| cos t_j with the target column
        |x| (psi(t_y) + lambda cos t_y) / (1 + lambda).
    """
    norm_x = _feature_norms(features)
    cosines = ops.clip(logits / norm_x, -1.0, 1.0)
    cos_target = _backend.take_per_row(cosines, labels)
    target = _margin_target(norm_x, 1.0, cos_target, margin, lambda_)
    return _with_target_column(norm_x * cosines, labels, target)
