"""Additive margins on the hypersphere: CosFace (Wang et al. 2018) and ArcFace
(Deng et al. 2019). Features and class vectors are both normalised."""

import math

from keras import ops

from tf_wsoftmax.declarations import declaration_of
from tf_wsoftmax.declarations import default_of
from tf_wsoftmax.ops import _backend
from tf_wsoftmax.ops import checks
from tf_wsoftmax.ops.wsoftmax import EPSILON
from tf_wsoftmax.ops.wsoftmax import l2_normalize
from tf_wsoftmax.ops.wsoftmax import normalize_kernel


def cosine_logits(features, kernel):
    """cos(t_j) between L2-normalised features (B, d) and class vectors (d, K).

    Returns:
        (B, K) cosines, clipped to [-1, 1], in float32 (float64 for float64).
    """
    features = checks.check_float(features, "features")
    kernel = checks.check_float(kernel, "kernel")
    features = checks.check_feature_dims(features, kernel)
    dtype = checks.compute_dtype(features, kernel)
    return _cosines(ops.cast(features, dtype), ops.cast(kernel, dtype))


def _cosines(features, kernel):
    unit_features = l2_normalize(features, axis=-1)
    return ops.clip(ops.matmul(unit_features, normalize_kernel(kernel)), -1.0, 1.0)


def additive_margin_logits(cosines, labels, target_fn, scale):
    """s * cosines with the label column replaced by target_fn(cos t_y).

    Args:
        cosines: (B, K) cos(t_j).
        labels: validated int32 (B,).
        target_fn: maps (B, 1) cos(t_y) to the margin target.
        scale: s.

    Returns:
        (B, K) logits.
    """
    cos_target = _backend.take_per_row(cosines, labels)
    num_classes = checks.num_classes_of(cosines, -1)
    is_target = ops.equal(ops.arange(num_classes, dtype="int32")[None, :], labels[:, None])
    return scale * ops.where(is_target, target_fn(cos_target), cosines)


def cosface_target(cos_target, margin):
    """CosFace's target: cos(t_y) - m."""
    return cos_target - margin


def arcface_target(cos_target, margin):
    """ArcFace's target cos(t_y + m), with the usual fallback.

    cos(t + m) would increase again once t + m > pi, so for t > pi - m the
    reference implementations (insightface, `easy_margin=False`) use
    cos(t) - m sin(pi - m) instead, which keeps the target decreasing in t
    (it steps down by 1 - cos m - m sin m at t = pi - m).
    """
    sin_target = ops.sqrt(ops.clip(1.0 - ops.square(cos_target), EPSILON, 1.0))
    shifted = cos_target * math.cos(margin) - sin_target * math.sin(margin)
    threshold = math.cos(math.pi - margin)
    fallback = cos_target - margin * math.sin(math.pi - margin)
    return ops.where(cos_target > threshold, shifted, fallback)


def cosface_logits(
    features, kernel, labels, scale=default_of("cosface", "scale"), margin=default_of("cosface", "cosine_margin")
):
    """CosFace / LMCL logits: s (cos t_y - m) for the target, s cos t_j otherwise.

    Args:
        features: float (B, d); normalised inside.
        kernel: float (d, K); columns normalised inside.
        labels: int (B,) in [0, K).
        scale: s > 0. Defaults to the declared 64 (the paper's).
        margin: m in the declared [0, 2). Defaults to the declared 0.35 (the paper's).

    Returns:
        (B, K) logits in float32 (float64 for float64 inputs).
    """
    scale = declaration_of("cosface", "scale").check(scale, "scale")
    margin = declaration_of("cosface", "cosine_margin").check(margin, "margin")
    features, kernel, labels = checks.prepare_head_inputs(features, kernel, labels)
    logits = additive_margin_logits(_cosines(features, kernel), labels, lambda c: cosface_target(c, margin), scale)
    return checks.mark_invalid_labels(logits, labels, checks.num_classes_of(kernel, -1))


def arcface_logits(
    features, kernel, labels, scale=default_of("arcface", "scale"), margin=default_of("arcface", "angular_margin")
):
    """ArcFace logits: s cos(t_y + m) for the target (fallback past pi), s cos t_j otherwise.

    Args:
        features: float (B, d); normalised inside.
        kernel: float (d, K); columns normalised inside.
        labels: int (B,) in [0, K).
        scale: s > 0. Defaults to the declared 64.
        margin: m in radians, in the declared [0, pi/2). Defaults to the declared 0.5.

    Returns:
        (B, K) logits in float32 (float64 for float64 inputs).
    """
    scale = declaration_of("arcface", "scale").check(scale, "scale")
    margin = declaration_of("arcface", "angular_margin").check(margin, "margin")
    features, kernel, labels = checks.prepare_head_inputs(features, kernel, labels)
    logits = additive_margin_logits(_cosines(features, kernel), labels, lambda c: arcface_target(c, margin), scale)
    return checks.mark_invalid_labels(logits, labels, checks.num_classes_of(kernel, -1))
