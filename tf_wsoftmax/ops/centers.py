"""Centre-based losses: center loss (Wen et al. 2016) and contrastive-center loss
(Qi & Su 2017)."""

from keras import ops

from tf_wsoftmax.declarations import declaration_of
from tf_wsoftmax.declarations import default_of
from tf_wsoftmax.ops import _backend
from tf_wsoftmax.ops import checks


def _prepare(features, centers, labels):
    features = checks.check_float(features, "features")
    centers = checks.check_float(centers, "centers")
    checks.check_rank(features, 2, "features", hint=" (expected (batch, dim))")
    checks.check_rank(centers, 2, "centers", hint=" (expected (num_classes, dim))")
    d_feat, d_center = features.shape[-1], centers.shape[-1]
    if d_feat is not None and d_center is not None and d_feat != d_center:
        raise ValueError(
            f"Feature dimension {d_feat} does not match the centres' dimension {d_center} "
            f"(features {features.shape}, centers {centers.shape})."
        )
    labels = checks.check_labels(labels, checks.num_classes_of(centers, 0), features)
    dtype = checks.compute_dtype(features, centers)
    return ops.cast(features, dtype), ops.cast(centers, dtype), labels


def center_loss(features, centers, labels):
    """Per-sample center loss 1/2 ||x_i - c_{y_i}||^2 (Wen et al. 2016, Eq. 2).

    Args:
        features: float (B, d).
        centers: float (K, d).
        labels: int (B,) in [0, K).

    Returns:
        (B,) losses in float32 (float64 for float64 inputs). The official
        code averages them over the batch.
    """
    features, centers, labels = _prepare(features, centers, labels)
    losses = 0.5 * ops.sum(ops.square(features - _backend.take_rows(centers, labels)), axis=-1)
    return checks.mark_invalid_labels(losses, labels, checks.num_classes_of(centers, 0))


def center_update_statistics(features, centers, labels):
    """Per-class sums of (c_j - x_i) and counts n_j of one batch (Wen et al. Eq. 4).

    Under `tf.distribute` these are what replicas all-reduce before the
    update, so every replica applies the same global update.

    Args:
        features: float (B, d) (treated as constants).
        centers: float (K, d).
        labels: int (B,) in [0, K).

    Returns:
        (sums (K, d), counts (K,)).
    """
    features, centers, labels = _prepare(features, centers, labels)
    features = ops.stop_gradient(features)
    num_classes = checks.num_classes_of(centers, 0)
    differences = _backend.take_rows(centers, labels) - features  # c_{y_i} - x_i
    differences = checks.mark_invalid_labels(differences, labels, num_classes)
    sums = _backend.segment_sum(differences, labels, num_classes)
    counts = _backend.segment_sum(ops.ones_like(labels, dtype=centers.dtype), labels, num_classes)
    return sums, counts


def apply_center_update(centers, sums, counts, alpha):
    """c_j - alpha * sums_j / (1 + n_j); classes with n_j = 0 keep their centre."""
    delta = sums / (1.0 + counts)[:, None]
    return centers - checks.as_dtype(alpha, checks.dtype_name(centers)) * delta


def center_update(features, centers, labels, alpha):
    """The centres after one Wen et al. update (Eq. 4).

    delta c_j = sum_{i: y_i = j} (c_j - x_i) / (1 + n_j), c_j <- c_j - alpha delta c_j;
    classes absent from the batch keep their centre.

    Args:
        features: float (B, d) (treated as constants).
        centers: float (K, d).
        labels: int (B,) in [0, K).
        alpha: centre learning rate in [0, 1].

    Returns:
        The updated (K, d) centres.
    """
    alpha = checks.check_non_negative_scalar(alpha, "alpha")
    sums, counts = center_update_statistics(features, centers, labels)
    return apply_center_update(ops.cast(centers, sums.dtype), sums, counts, alpha)


def _distance_sums(features, centers, labels):
    """a_i = ||x_i - c_{y_i}||^2 and b_i = sum_{j != y_i} ||x_i - c_j||^2, without a (B, K) matrix.

    sum_j ||x_i - c_j||^2 = K ||x_i||^2 - 2 x_i . sum_j c_j + sum_j ||c_j||^2: O(K d + B d).
    """
    own = ops.sum(ops.square(features - _backend.take_rows(centers, labels)), axis=-1)
    num_classes = ops.cast(ops.shape(centers)[0], features.dtype)
    total = (
        num_classes * ops.sum(ops.square(features), axis=-1)
        - 2.0 * ops.sum(features * ops.sum(centers, axis=0)[None, :], axis=-1)
        + ops.sum(ops.square(centers))
    )
    return own, ops.maximum(total - own, 0.0)


def contrastive_center_loss(features, centers, labels, delta=default_of("contrastive_center", "delta")):
    """Per-sample contrastive-center loss (Qi & Su 2017, Eq. 4).

    1/2 ||x_i - c_{y_i}||^2 / (sum_{j != y_i} ||x_i - c_j||^2 + delta), the sum
    over the classes in closed form (no (B, K) matrix of distances).

    Args:
        features: float (B, d).
        centers: float (K, d).
        labels: int (B,) in [0, K).
        delta: constant > 0 that keeps the denominator away from 0.
            Defaults to the declared 1.

    Returns:
        (B,) losses in float32 (float64 for float64 inputs).
    """
    delta = declaration_of("contrastive_center", "delta").check(delta)
    features, centers, labels = _prepare(features, centers, labels)
    own, others = _distance_sums(features, centers, labels)
    losses = 0.5 * own / (others + delta)
    return checks.mark_invalid_labels(losses, labels, checks.num_classes_of(centers, 0))


def contrastive_center_gradient(features, centers, labels, delta=default_of("contrastive_center", "delta")):
    """d/dc of the batch mean of `contrastive_center_loss`, in closed form.

    With a_i = ||x_i - c_{y_i}||^2 and b_i = sum_{j != y_i} ||x_i - c_j||^2,
    L_i = a_i / (2 (b_i + delta)), so
    dL_i/dc_{y_i} = -(x_i - c_{y_i}) / (b_i + delta) and, for j != y_i,
    dL_i/dc_j = a_i (x_i - c_j) / (b_i + delta)^2. Summed over the batch, with
    w_i = a_i / (b_i + delta)^2 and u_i = -1 / (b_i + delta) - w_i, class j gets
    sum_i w_i x_i - (sum_i w_i) c_j plus the rows of its own samples,
    sum_{y_i = j} u_i (x_i - c_j): O(K d + B d), no (B, K) matrix. The features
    are constants. The centre layer's update uses it on every backend (no
    gradient tape).

    Args:
        features: float (B, d).
        centers: float (K, d).
        labels: int (B,) in [0, K).
        delta: the loss's delta > 0.

    Returns:
        (K, d) gradient of mean_i L_i with respect to the centres.
    """
    delta = declaration_of("contrastive_center", "delta").check(delta)
    features, centers, labels = _prepare(features, centers, labels)
    features = ops.stop_gradient(features)
    num_classes = checks.num_classes_of(centers, 0)
    own, others = _distance_sums(features, centers, labels)
    denominator = checks.mark_invalid_labels(others + delta, labels, num_classes)
    shared = own / ops.square(denominator)  # w_i
    extra = -1.0 / denominator - shared  # u_i
    gradient = (
        ops.sum(shared[:, None] * features, axis=0)[None, :]
        + _backend.segment_sum(extra[:, None] * features, labels, num_classes)
        - (ops.sum(shared) + _backend.segment_sum(extra, labels, num_classes))[:, None] * centers
    )
    return gradient / ops.cast(ops.shape(features)[0], features.dtype)
