"""The training objective shared by `TrainStep` and `MarginClassifier`.

L = mean_i CE(training logits_i, y_i) + regularisation + lambda L_center,
where the training logits come from the head's label-aware path.
"""

import inspect

import keras
import tensorflow as tf


def head_accepts_labels(head):
    """True if `head.call` takes a `labels` argument (a margin head)."""
    return "labels" in inspect.signature(head.call).parameters


def classifier_logits(backbone, head, images, labels=None, training=False):
    """Runs backbone and head; passes labels to heads that take them.

    Args:
        backbone: Keras model mapping images to features (B, d).
        head: the classifier layer (a margin head or a plain `Dense`).
        images: input batch.
        labels: optional int class ids (B,), used when `training`.
        training: Python bool.

    Returns:
        (features, logits).
    """
    features = backbone(images, training=training)
    if labels is not None and head_accepts_labels(head):
        return features, head(features, labels=labels, training=training)
    return features, head(features, training=training)


def weighted_mean(values, sample_weight=None):
    """Keras' "sum_over_batch_size": sum(w * v) / B (plain mean without weights)."""
    values = tf.cast(values, tf.float32)
    if sample_weight is None:
        return tf.reduce_mean(values)
    weights = tf.reshape(tf.cast(sample_weight, tf.float32), tf.shape(values))
    return tf.reduce_sum(values * weights) / tf.cast(tf.size(values), tf.float32)


def objective(backbone, head, images, labels, feature_loss=None, sample_weight=None, tape=None):
    """One training-mode forward pass and its loss terms.

    Args:
        backbone: Keras model, images -> features.
        head: classifier layer.
        images: input batch.
        labels: int32 (B,) class ids (already validated).
        feature_loss: optional `ClassCenters` layer (center or
            contrastive-center loss) added as lambda * its mean.
        sample_weight: optional (B,) weights of the cross-entropy.
        tape: the enclosing `GradientTape`; it is told to watch the centres
            of a loss that learns them by gradient (they are not trainable
            weights, so tapes do not watch them on their own).

    Returns:
        dict with "loss" (total), "cross_entropy", "feature_loss",
        "features" and "test_logits" (the test-time logits, for metrics).
    """
    features, logits = classifier_logits(backbone, head, images, labels, training=True)
    cross_entropy = weighted_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=tf.cast(logits, tf.float32)),
        sample_weight,
    )
    loss = cross_entropy
    regularization = backbone.losses + head.losses
    if regularization:
        loss += tf.add_n([tf.cast(r, tf.float32) for r in regularization])
    center_term = tf.zeros((), tf.float32)
    if feature_loss is not None:
        if not feature_loss.built:
            feature_loss.build(features.shape)
        if tape is not None and feature_loss.learns_by_gradient:
            tape.watch(feature_loss.centers.value)
        center_term = feature_loss(features, labels)
        loss += center_term
    return {
        "loss": loss,
        "cross_entropy": cross_entropy,
        "feature_loss": center_term,
        "features": features,
        "test_logits": head(features, training=False),
    }


def trainable_variables(backbone, head):
    """The variables the model's optimiser updates (centres are not among them)."""
    return backbone.trainable_variables + head.trainable_variables


def gradients(backbone, head, optimizer, images, labels, feature_loss=None, sample_weight=None):
    """The objective and its gradients (unscaled), without applying them.

    The loss is scaled with `optimizer.scale_loss` (a mixed precision
    `LossScaleOptimizer` multiplies it; others return it unchanged) and the
    gradients are returned as the optimiser expects them; the centres'
    gradient (contrastive-center loss) is unscaled here.

    Returns:
        (outputs, model_gradients, center_gradient or None).
    """
    variables = trainable_variables(backbone, head)
    learns_centers = feature_loss is not None and feature_loss.learns_by_gradient
    with tf.GradientTape() as tape:
        outputs = objective(backbone, head, images, labels, feature_loss, sample_weight, tape)
        scaled = optimizer.scale_loss(outputs["loss"]) if optimizer is not None else outputs["loss"]
    watched = variables + ([feature_loss.centers.value] if learns_centers else [])
    grads = tape.gradient(scaled, watched)
    center_gradient = None
    if learns_centers:
        center_gradient = grads.pop()
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            center_gradient = center_gradient / tf.cast(optimizer.dynamic_scale, center_gradient.dtype)
    return outputs, grads, center_gradient


def train_batch(backbone, head, optimizer, images, labels, feature_loss=None, sample_weight=None):
    """Computes the objective, applies the optimiser step and the centre update.

    Returns:
        The `objective` outputs.
    """
    outputs, grads, center_gradient = gradients(
        backbone, head, optimizer, images, labels, feature_loss, sample_weight
    )
    optimizer.apply(grads, trainable_variables(backbone, head))
    if feature_loss is not None:
        feature_loss.update(outputs["features"], labels, center_gradient)
    return outputs
