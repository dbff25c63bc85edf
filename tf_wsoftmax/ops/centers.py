"""Centre-based losses: center loss (Wen et al. 2016) and contrastive-center loss
(Qi & Su 2017)."""

import tensorflow as tf

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
    num_classes = centers.shape[0] if centers.shape[0] is not None else tf.shape(centers)[0]
    labels = checks.check_labels(labels, num_classes, features)
    dtype = checks.compute_dtype(features, centers)
    return tf.cast(features, dtype), tf.cast(centers, dtype), labels


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
    return 0.5 * tf.reduce_sum(tf.square(features - tf.gather(centers, labels)), axis=-1)


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
    features = tf.stop_gradient(features)
    num_classes = tf.shape(centers)[0]
    differences = tf.gather(centers, labels) - features  # c_{y_i} - x_i
    sums = tf.math.unsorted_segment_sum(differences, labels, num_classes)
    counts = tf.math.unsorted_segment_sum(tf.ones_like(labels, centers.dtype), labels, num_classes)
    return sums, counts


def apply_center_update(centers, sums, counts, alpha):
    """c_j - alpha * sums_j / (1 + n_j); classes with n_j = 0 keep their centre."""
    delta = sums / (1.0 + counts)[:, None]
    return centers - tf.cast(alpha, centers.dtype) * delta


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
    return apply_center_update(tf.cast(centers, sums.dtype), sums, counts, alpha)


def squared_distances(features, centers):
    """||x_i - c_j||^2 for all pairs, (B, K), without a (B, K, d) tensor."""
    return tf.maximum(
        tf.reduce_sum(tf.square(features), -1, keepdims=True)
        - 2.0 * tf.matmul(features, centers, transpose_b=True)
        + tf.reduce_sum(tf.square(centers), -1)[None, :],
        0.0,
    )


def contrastive_center_loss(features, centers, labels, delta=1.0):
    """Per-sample contrastive-center loss (Qi & Su 2017, Eq. 4).

    1/2 ||x_i - c_{y_i}||^2 / (sum_{j != y_i} ||x_i - c_j||^2 + delta).

    Args:
        features: float (B, d).
        centers: float (K, d).
        labels: int (B,) in [0, K).
        delta: constant > 0 that keeps the denominator away from 0.
            Defaults to 1.

    Returns:
        (B,) losses in float32 (float64 for float64 inputs).
    """
    delta = checks.check_positive(delta, "delta")
    features, centers, labels = _prepare(features, centers, labels)
    distances = squared_distances(features, centers)
    own = tf.gather(distances, labels, batch_dims=1)
    others = tf.reduce_sum(distances, axis=-1) - own
    return 0.5 * own / (others + delta)
