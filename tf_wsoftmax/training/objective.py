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


def weighted_mean(values, sample_weight=None, global_batch_size=None):
    """Keras' "sum_over_batch_size": sum(w * v) / B.

    Under `tf.distribute`, pass the global batch size: each replica then
    returns its share sum(w * v) / B_global, and the replicas' shares add up
    to the global mean (also for uneven or empty replica batches).
    """
    values = tf.cast(values, tf.float32)
    if sample_weight is not None:
        values = values * tf.reshape(tf.cast(sample_weight, tf.float32), tf.shape(values))
    if global_batch_size is None:
        global_batch_size = tf.size(values)
    return tf.reduce_sum(values) / tf.cast(global_batch_size, tf.float32)


def num_replicas():
    """Replicas in sync of the current strategy (1 without one)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def objective(backbone, head, images, labels, feature_loss=None, sample_weight=None, tape=None, global_batch_size=None):
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
        global_batch_size: under `tf.distribute`, the batch size over all
            replicas: every term is this replica's share of the global
            objective (regularisation divided by the number of replicas), so
            the all-reduced (summed) gradients are those of the global batch.

    Returns:
        dict with "loss" (total), "cross_entropy", "feature_loss",
        "features" and "test_logits" (the test-time logits, for metrics).
    """
    features, logits = classifier_logits(backbone, head, images, labels, training=True)
    cross_entropy = weighted_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=tf.cast(logits, tf.float32)),
        sample_weight,
        global_batch_size,
    )
    loss = cross_entropy
    regularization = backbone.losses + head.losses
    if regularization:
        loss += tf.add_n([tf.cast(r, tf.float32) for r in regularization]) / float(num_replicas())
    center_term = tf.zeros((), tf.float32)
    if feature_loss is not None:
        if not feature_loss.built:
            feature_loss.build(features.shape)
        if tape is not None and feature_loss.learns_by_gradient:
            tape.watch(feature_loss.centers.value)
        center_term = feature_loss(features, labels, global_batch_size=global_batch_size)
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


def gradients(backbone, head, optimizer, images, labels, feature_loss=None, sample_weight=None, global_batch_size=None):
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
        outputs = objective(backbone, head, images, labels, feature_loss, sample_weight, tape, global_batch_size)
        scaled = optimizer.scale_loss(outputs["loss"]) if optimizer is not None else outputs["loss"]
    watched = variables + ([feature_loss.centers.value] if learns_centers else [])
    grads = tape.gradient(scaled, watched)
    center_gradient = None
    if learns_centers:
        center_gradient = grads.pop()
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            center_gradient = center_gradient / tf.cast(optimizer.dynamic_scale, center_gradient.dtype)
    return outputs, grads, center_gradient


def train_batch(
    backbone, head, optimizer, images, labels, feature_loss=None, sample_weight=None, global_batch_size=None
):
    """Computes the objective, applies the optimiser step and the centre update.

    Under `tf.distribute` this runs in each replica: the optimiser sums the
    replicas' gradients and the centre layers all-reduce their statistics.

    Returns:
        The `objective` outputs (this replica's shares of the loss terms).
    """
    outputs, grads, center_gradient = gradients(
        backbone, head, optimizer, images, labels, feature_loss, sample_weight, global_batch_size
    )
    optimizer.apply(grads, trainable_variables(backbone, head))
    if feature_loss is not None:
        feature_loss.update(outputs["features"], labels, center_gradient)
    return outputs
