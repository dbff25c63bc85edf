"""A classifier head's softmax cross-entropy without a (B, K) matrix: fused linear
cross-entropy over chunks of the batch's rows, its gradient formed in the same pass.

Every normalised head of the library scores a batch x (B, d) against class vectors
W (d, K) with logits that are a (B, d) x (d, K) product, scaled per row and per
column, with a margin on the label's column (and, for W-Softmax, a second product:
the cosines W_y . W_j). `chunked_cross_entropy` computes the cross-entropy of such
logits a few rows at a time: for each chunk of rows it forms the chunk's logits,
their softmax (complete, since a chunk holds every class of its rows), and right
away the gradient: the features' rows and the chunk's share of the kernel
gradient, which adds up over the chunks. So the products are those of the maths
and no more (3: x W, g W^T and x^T g; W-Softmax "stop" 4, "full" 6), the logits
held at once are at most `max_logits` per device, and the gradient is a
`keras.ops.custom_gradient` on every backend.

Why rows and not classes (Cut Cross-Entropy's online log-sum-exp over K): over K the
softmax of a chunk of classes is known only after the last chunk, so its gradient
needs the logits again, a fourth product (two more for W-Softmax's cosines).
Chunks of rows keep the product count at the floor; their cost is one pass over
the (d, K) gradient per extra chunk, and a batch of B = 256 rows against K = 10^6
classes needs four chunks in 256 MiB. Chunks split the batch in strides (row i goes
to chunk i mod n), so a batch split over devices ("data" axis of a
`keras.distribution` mesh) stays split in every chunk, and the classes are never
split: a class-sharded kernel stays sharded.

The differentiable output is the weighted sum of the per-sample cross-entropies,
sum_i r_i CE_i, with the row weights r of the objective given up front (the
reduction's sample weights / B): that is what lets the kernel gradient, a sum over
rows, be formed in the forward pass. The per-sample values and the correctness of
the test-time arg max come out as values without a gradient.
"""

import collections
import dataclasses
import math

import keras
from keras import ops

from tf_wsoftmax import declarations
from tf_wsoftmax.ops import _backend
from tf_wsoftmax.ops import checks
from tf_wsoftmax.ops.sampling import PADDING_LOGIT
from tf_wsoftmax.ops.wsoftmax import EPSILON

ChunkedLoss = collections.namedtuple("ChunkedLoss", ["loss", "per_sample", "correct"])
ChunkedLoss.__doc__ = """`chunked_cross_entropy`'s result.

Fields:
    loss: sum_i r_i CE_i, a scalar with the gradient of the head.
    per_sample: (B,) CE_i, values only (no gradient).
    correct: (B,) float32, 1 where the test-time logits' first arg max is the label.
"""


@dataclasses.dataclass(frozen=True, eq=False)
class Scoring:
    """How a head turns x (B, d) and W (d, K) into its logits.

    Test-time logits z_ij = scale * c(u_i . v_j) (+ bias_j), with u_i = x_i or
    x_i / ||x_i|| (`normalize_features`), v_j = W_j or W_j / ||W_j||
    (`normalize_kernel`) and c = clip to [-1, 1] (`clip`, the cosine heads) or
    the identity. The training logits replace the label's column by
    target(z_y, ||x||, ||W_y||) (`target`; the identity when None) and, with
    `alpha` (W-Softmax, Eq. 1), score every other column j with
    (z_j + alpha z_y) / sqrt(1 + alpha^2 + 2 alpha W_y . W_j) (unit W).

    Attributes:
        normalize_features: whether u is the unit feature vector.
        normalize_kernel: whether v is the unit class vector.
        scale: s.
        clip: whether u . v is clipped to [-1, 1].
        target: an elementwise function (z_y, feature_norm, kernel_norm,
            *target_parameters) -> the label column's training logit, norms as
            `sqrt(max(sum of squares, EPSILON))`, or None.
        target_parameters: scalars (floats or tensors, e.g. a schedule's
            current lambda) the target reads; tensors are passed in, never
            closed over.
        alpha: W-Softmax's alpha (a checked float >= 0 or scalar tensor), or
            None: no weight bias and no cosine product.
        bias_gradient: W-Softmax's backward mode, "stop" or "full" (checked).
        kernel_gradient: whether the kernel gets a gradient (False: a fixed
            kernel, whose two products are skipped).
    """

    normalize_features: bool = False
    normalize_kernel: bool = False
    scale: float = 1.0
    clip: bool = False
    target: object = None
    target_parameters: tuple = ()
    alpha: object = None
    bias_gradient: str = "stop"
    kernel_gradient: bool = True


def row_chunks(batch, classes, max_logits=None):
    """The number of row chunks: as few as keep batch x classes / chunks <= max_logits.

    Args:
        batch: B (None: unknown, one chunk).
        classes: K per device (None: unknown, one chunk).
        max_logits: the most logits a chunk may hold. Defaults to the declared
            `tf_wsoftmax.declarations.CHUNK_LOGITS`.

    Returns:
        int in [1, B].
    """
    if batch is None or classes is None:
        return 1
    max_logits = declarations.CHUNK_LOGITS if max_logits is None else max_logits
    return max(1, min(batch, math.ceil(batch * classes / max_logits)))


def chunked_cross_entropy(
    features, kernel, labels, row_weights, scoring, bias=None, column_mask=None, max_logits=None, model_shards=1,
    data_shards=1, class_major=False,
):
    """sum_i r_i CE_i of a head's training logits, computed in row chunks (no (B, K) matrix).

    Takes checked values: labels validated against K (`checks.check_labels`),
    hyperparameters validated by the head. Inside a compiled step where a bad
    label cannot raise (XLA, `jax.jit`) its row's weight is NaN, so the loss and
    every gradient it reaches are NaN rather than trained on.

    Args:
        features: float (B, d); half precision is computed in float32.
        kernel: float (d, K) class vectors (all K, or Partial FC's sampled
            columns); (K, d) with `class_major`.
        labels: int32 (B,) in [0, K).
        row_weights: float (B,) r_i, the weights of the per-sample losses in the
            objective (e.g. sample weight / B).
        scoring: a `Scoring`.
        bias: optional (K,) bias added to the logits (`keras.layers.Dense`).
        column_mask: optional bool (K,): False marks padding columns, whose
            logits are `PADDING_LOGIT` (no share of the softmax, no gradient).
        max_logits: the most logits a chunk of rows holds per device.
            Defaults to the declared `tf_wsoftmax.declarations.CHUNK_LOGITS`.
        model_shards: devices the kernel's K axis is split over.
        data_shards: devices the batch is split over. The chunks are decided
            by the logits per device: (B / data_shards) x (K / model_shards).
        class_major: the kernel is (K, d), one class vector per row (a
            class-sampling head's gathered rows, `MarginHead.class_major`):
            the same products with the operands' roles transposed, and the
            kernel gradient (K, d). Defaults to False.

    Returns:
        A `ChunkedLoss`; `loss` is differentiable with respect to `features`,
        `kernel`, `bias` and `row_weights`.
    """
    features, kernel, row_weights = (_backend.value_of(t) for t in (features, kernel, row_weights))
    dtype = checks.compute_dtype(features, kernel)
    num_classes = checks.num_classes_of(kernel, 0 if class_major else -1)
    local_classes = num_classes // model_shards if isinstance(num_classes, int) else None
    batch = features.shape[0]
    local_batch = batch // data_shards if batch is not None and batch % data_shards == 0 else batch
    chunks = row_chunks(local_batch, local_classes, max_logits)
    if batch is not None and chunks > 1 and (batch // data_shards) % chunks:
        chunks = 1 if data_shards > 1 else chunks  # strided chunks must keep the batch's split over the devices
    plan = _Plan(scoring, dtype, num_classes, chunks, rows_split=data_shards > 1, class_major=class_major)
    # Every tensor the pass reads is an argument of the custom-gradient function (JAX cannot
    # close over the tracers of an enclosing `jit` there); the optional ones by name.
    alpha = None if scoring.alpha is None else checks.as_dtype(scoring.alpha, dtype)  # 0.7 keeps its float64 digits
    optional = {"bias": bias, "column_mask": column_mask, "alpha": alpha}
    optional.update({f"target_{i}": checks.as_dtype(p, dtype) for i, p in enumerate(scoring.target_parameters)})
    optional = {name: _backend.value_of(value) for name, value in optional.items() if value is not None}
    names = tuple(optional)

    @keras.ops.custom_gradient
    def fused(features, kernel, row_weights, labels, *values):
        outputs, gradients = plan.run(features, kernel, row_weights, labels, **dict(zip(names, values)))
        inputs = (features, kernel, row_weights)

        def gradient(*upstream, **unused):
            loss_upstream = upstream[0]
            if isinstance(loss_upstream, (tuple, list)):  # JAX hands the outputs' cotangents as one tuple
                loss_upstream = loss_upstream[0]
            scale = ops.cast(loss_upstream, dtype)
            differentiable = tuple(
                ops.zeros_like(t) if g is None else ops.cast(scale * g, checks.dtype_name(t))
                for g, t in zip(gradients[:3], inputs)
            )
            bias_gradient = (ops.cast(scale * gradients[3], checks.dtype_name(values[0])),) if "bias" in names else ()
            return differentiable + (None,) + bias_gradient + (None,) * (len(values) - len(bias_gradient))

        return outputs, gradient

    loss, per_sample, correct = fused(features, kernel, row_weights, ops.cast(labels, "int32"), *optional.values())
    return ChunkedLoss(loss, ops.stop_gradient(per_sample), ops.stop_gradient(correct))


class _Plan:
    """One call's constants and the pass over its row chunks (`run`)."""

    def __init__(self, scoring, dtype, num_classes, chunks, rows_split=False, class_major=False):
        self.scoring = scoring
        self.class_major = class_major
        self.rows_split = rows_split
        self.dtype = dtype
        self.num_classes = num_classes
        self.chunks = chunks
        self.wsoftmax = scoring.alpha is not None
        self.full = self.wsoftmax and scoring.bias_gradient == "full"

    def constant(self, value):
        return checks.as_dtype(value, self.dtype)

    def run(self, features, kernel, row_weights, labels, bias=None, column_mask=None, alpha=None, **target_parameters):
        """Returns ((loss, per_sample, correct), gradients of loss w.r.t. features, kernel, row_weights, bias)."""
        s = self.scoring
        self.target_parameters = [target_parameters[f"target_{i}"] for i in range(len(target_parameters))]
        self.labels = labels
        self.invalid = checks.label_errors(labels, self.num_classes)
        self.column_mask = column_mask
        self.alpha = None if alpha is None else ops.cast(alpha, self.dtype)
        x = ops.cast(features, self.dtype)
        w = ops.cast(kernel, self.dtype)
        r = _backend.mark_invalid(ops.cast(row_weights, self.dtype), self.invalid)
        b = None if bias is None else ops.cast(bias, self.dtype)
        eps = self.constant(EPSILON)
        # ||W_j||^2: over a row of a class-major kernel (contiguous), else over a column.
        w_squares = ops.sum(ops.square(w), axis=1) if self.class_major else _backend.sum_over_rows(ops.square(w))
        self.w_scales = ops.rsqrt(ops.maximum(w_squares, eps))  # s_j = 1 / ||W_j||
        self.w_norms = ops.sqrt(ops.maximum(w_squares, eps))
        self.w = w
        self.bias = b
        self.columns = ops.arange(self.num_classes, dtype="int32")[None, :]

        pieces = [self.chunk(*parts) for parts in zip(*(_split(t, self.chunks) for t in (x, self.labels, r)))]
        per_sample, correct, row_gradients = (_join([p[i] for p in pieces], self.chunks) for i in range(3))
        batch = ops.shape(x)[0]
        per_sample, correct, row_gradients = per_sample[:batch], correct[:batch], row_gradients[:batch]
        per_sample = _backend.mark_invalid(per_sample, self.invalid)
        loss = ops.sum(r * per_sample)

        kernel_gradient = None
        if s.kernel_gradient:
            kernel_gradient = _sum(p[3] for p in pieces)
            if self.full:
                target_rows = ops.concatenate([p[4] for p in pieces], axis=0)  # (B', d)
                order = _split_order(self.labels, self.chunks)
                if self.class_major:
                    kernel_gradient = _backend.scatter_add_rows(kernel_gradient, order, target_rows)
                else:
                    kernel_gradient = _backend.scatter_add_columns(kernel_gradient, order, ops.transpose(target_rows))
            coefficient = None  # per column: W_j times it is added (the norms' share of the gradient)
            if s.normalize_kernel:
                v = _sum(p[5] for p in pieces)
                keep = ops.cast(w_squares > eps, self.dtype)
                coefficient = -ops.square(self.w_scales) * v * keep
            radial = [p[6] for p in pieces if p[6] is not None]
            if radial:  # the target's own dependence on ||W_y|| (L-Softmax)
                along = ops.cast(w_squares > eps, self.dtype) / self.w_norms
                contribution = _backend.segment_sum(_join(radial, self.chunks)[:batch], self.labels, self.num_classes)
                coefficient = contribution * along if coefficient is None else coefficient + contribution * along
            if coefficient is not None:
                kernel_gradient = kernel_gradient + w * (coefficient[:, None] if self.class_major else coefficient[None, :])
        bias_gradient = None if b is None else _sum(p[7] for p in pieces)
        gradients = (row_gradients, kernel_gradient, per_sample, bias_gradient)
        return (loss, per_sample, correct), gradients

    def chunk(self, x, labels, r):
        """One chunk of rows: its losses, correctness, feature gradients and kernel-gradient shares.

        Written so that few (b, K) arrays need to exist: the label's logit is a (b, d) dot of its
        own, the label column's softmax share is analytic, and the norms' chain reads the
        product and the gradient the products consume anyway.
        """
        s = self.scoring
        w = self.w
        eps = self.constant(EPSILON)
        x_squares = ops.sum(ops.square(x), axis=-1)  # of the chunk's rows (padding rows are zero rows)
        x_norms = ops.sqrt(ops.maximum(x_squares, eps))
        x_scales = ops.rsqrt(ops.maximum(x_squares, eps))
        rows = x * x_scales[:, None] if s.normalize_features else x
        alpha = self.alpha
        column_scales = self.w_scales[None, :] if s.normalize_kernel else None

        major = self.class_major  # w is (K, d): each product below takes it transposed
        raw = _backend.matmul(rows, w, transpose_b=major)  # (b, K): the product
        unit = raw * column_scales if s.normalize_kernel else raw
        cosines = ops.clip(unit, -1.0, 1.0) if s.clip else unit
        logits = cosines * s.scale if s.scale != 1.0 else cosines
        if self.bias is not None:
            logits = logits + self.bias[None, :]
        is_target = ops.equal(self.columns, labels[:, None])
        # (d, b): W_y
        target_columns_raw = ops.transpose(_backend.take_rows(w, labels)) if major else _backend.take_columns(w, labels)
        w_scale_y = _backend.take_rows(self.w_scales, labels)
        label_raw = ops.sum(rows * ops.transpose(target_columns_raw), axis=-1)  # u . W_y
        label_unit = label_raw * w_scale_y if s.normalize_kernel else label_raw
        label_cosine = ops.clip(label_unit, -1.0, 1.0) if s.clip else label_unit
        label_logit = label_cosine * s.scale if s.scale != 1.0 else label_cosine  # z_y
        if self.bias is not None:
            label_logit = label_logit + _backend.take_rows(self.bias, labels)
        w_norm_y = _backend.take_rows(self.w_norms, labels)
        if s.target is None:
            target, partials = label_logit, None
        else:
            parameters = self.target_parameters
            target, partials = _backend.elementwise_partials(
                lambda z, xn, wn: s.target(z, xn, wn, *parameters), label_logit, x_norms, w_norm_y
            )
        negatives = logits
        if self.wsoftmax:  # Eq. 1: (z_j + a z_y) / ||W_j + a W_y||, from the cosines W_y . W_j
            unit_targets = target_columns_raw * w_scale_y[None, :]  # (d, b): W_y, unit
            cosines_raw = _backend.matmul(unit_targets, w, transpose_a=True, transpose_b=major)  # (b, K): the second product
            squared_norms = (1.0 + ops.square(alpha)) + 2.0 * alpha * (cosines_raw * self.w_scales[None, :])
            inverse_norms = ops.rsqrt(ops.maximum(squared_norms, eps))
            negatives = (logits + alpha * label_logit[:, None]) * inverse_norms
        training = ops.where(is_target, target[:, None], negatives)
        test = logits
        if self.column_mask is not None:
            padding = self.constant(PADDING_LOGIT)
            training = ops.where(self.column_mask[None, :], training, padding)
            test = ops.where(self.column_mask[None, :], test, padding)

        # The softmax of complete rows: loss and d(sum r CE)/d(training logits).
        peak = ops.max(training, axis=-1)
        exponentials = ops.exp(training - peak[:, None])
        total = ops.sum(exponentials, axis=-1)
        per_sample = peak + ops.log(total) - target
        target_weighted = r * (ops.exp(target - peak) / total - 1.0)  # r (p_y - 1)
        weighted = exponentials * (r / total)[:, None] - ops.where(is_target, r[:, None], 0.0)
        correct = ops.cast(ops.equal(ops.cast(ops.argmax(test, axis=-1), "int32"), labels), "float32")

        # Back to the test-time logits z (and the cosines W_y . W_j).
        features_extra = None
        cosine_gradient = None
        if not self.wsoftmax:
            label_slope = 1.0 if partials is None else partials[0]
            logit_gradient = ops.where(is_target, (target_weighted * label_slope)[:, None], weighted)
        else:
            through_norms = weighted * ops.where(is_target, 1.0, inverse_norms)  # off the label: d/dz_j
            bias_share = alpha * (ops.sum(through_norms, axis=-1) - target_weighted)  # d/dz_y via the weight bias
            if s.bias_gradient == "stop":  # the bias alpha W_y passes its gradient to the features only
                logit_gradient = through_norms
                features_extra = bias_share[:, None] * ops.transpose(unit_targets)
            else:
                logit_gradient = through_norms + ops.where(is_target, bias_share[:, None], 0.0)
                frozen = ops.logical_or(is_target, squared_norms < eps)
                # d/d(W_y . W_j) = -alpha (z_j + alpha z_y) / norm^3, for the unit cosines
                cosine_gradient = ops.where(frozen, 0.0, (-alpha) * through_norms * negatives * inverse_norms)
        unit_gradient = logit_gradient * s.scale if s.scale != 1.0 else logit_gradient
        if s.clip:
            unit_gradient = ops.where(ops.logical_and(unit >= -1.0, unit <= 1.0), unit_gradient, 0.0)
        bias_gradient = None if self.bias is None else _backend.sum_over_rows(logit_gradient, self.rows_split)
        norms_share = None  # W_j . (dL/dW_j^unit) for the norms' chain: sum_i g_ij unit_ij = sum_i (g_ij s_j) raw_ij
        if s.normalize_kernel:
            unit_gradient = unit_gradient * column_scales
            norms_share = _backend.sum_over_rows(unit_gradient * raw, self.rows_split)

        # The products: the rows' gradient g W^T and the kernel's share x^T g ("full": stacked with the
        # cosines' own two, [g; h] W^T and [x; W_y^T]^T [g; h], one product each).
        target_columns = None
        if cosine_gradient is None:
            rows_gradient = _backend.matmul(unit_gradient, w, transpose_b=not major)
            kernel_share = None
            if s.kernel_gradient:  # (d, K), or (K, d) for a class-major kernel
                kernel_share = (
                    _backend.matmul(unit_gradient, rows, transpose_a=True) if major
                    else _backend.matmul(rows, unit_gradient, transpose_a=True)
                )
        else:
            scaled_cosine_gradient = cosine_gradient * column_scales
            norms_share = norms_share + _backend.sum_over_rows(scaled_cosine_gradient * cosines_raw, self.rows_split)
            both = ops.concatenate([unit_gradient, scaled_cosine_gradient], axis=0)  # (2b, K)
            row_products = _backend.matmul(both, w, transpose_b=not major)  # (2b, d)
            size = ops.shape(rows)[0]
            rows_gradient, unit_target_gradient = row_products[:size], row_products[size:]
            target_columns = unit_target_gradient * w_scale_y[:, None]
            norms_share = norms_share + _backend.segment_sum(
                ops.sum(ops.transpose(unit_targets) * unit_target_gradient, axis=-1), labels, self.num_classes
            )
            kernel_share = None
            if s.kernel_gradient:
                stacked = ops.concatenate([rows, ops.transpose(unit_targets)], axis=0)  # (2b, d)
                kernel_share = (
                    _backend.matmul(both, stacked, transpose_a=True) if major
                    else _backend.matmul(stacked, both, transpose_a=True)
                )
        if features_extra is not None:
            rows_gradient = rows_gradient + features_extra

        # Back to the features (their normalisation, and the target's dependence on ||x||).
        if s.normalize_features:
            along = ops.sum(rows * rows_gradient, axis=-1, keepdims=True)
            normalised = x_scales[:, None] * (rows_gradient - rows * along)
            floored_rows = (x_squares <= self.constant(EPSILON))[:, None]
            rows_gradient = ops.where(floored_rows, x_scales[:, None] * rows_gradient, normalised)
        radial_kernel = None
        if partials is not None:
            unfloored = ops.cast(x_squares > self.constant(EPSILON), self.dtype)
            rows_gradient = rows_gradient + (target_weighted * partials[1] * unfloored / x_norms)[:, None] * x
            radial_kernel = target_weighted * partials[2]
        return (
            per_sample, correct, rows_gradient, kernel_share, target_columns, norms_share, radial_kernel,
            bias_gradient,
        )


def _split(tensor, chunks):
    """`chunks` tensors of rows i = c, c + n, c + 2n, ... (padded with zero rows to a multiple of n)."""
    if chunks == 1:
        return [tensor]
    batch = tensor.shape[0]
    padded = -(-batch // chunks) * chunks
    if padded != batch:
        padding = ops.zeros((padded - batch,) + tuple(tensor.shape[1:]), tensor.dtype)
        tensor = ops.concatenate([tensor, padding], axis=0)
    grouped = ops.reshape(tensor, (padded // chunks, chunks) + tuple(tensor.shape[1:]))
    return [grouped[:, c] for c in range(chunks)]


def _join(parts, chunks):
    """Inverse of `_split` (the padding rows stay at the end)."""
    if chunks == 1:
        return parts[0]
    stacked = ops.stack(parts, axis=1)
    return ops.reshape(stacked, (-1,) + tuple(stacked.shape[2:]))


def _split_order(labels, chunks):
    """`labels` in the order the chunks hold their rows (chunk 0's rows first), padding included."""
    return ops.concatenate(_split(labels, chunks), axis=0)


def _sum(values):
    total = None
    for value in values:
        total = value if total is None else total + value
    return total
