"""A `tf.function`-compiled train step that uses the head's label-aware path."""

import inspect

import tensorflow as tf

from tf_wsoftmax.ops import checks


def head_accepts_labels(head):
    """True if `head.call` takes a `labels` argument (a margin head)."""
    return "labels" in inspect.signature(head.call).parameters


def classifier_logits(backbone, head, images, labels=None, training=False):
    """Runs backbone and head; passes labels to heads that take them.

    Args:
        backbone: Keras model mapping images to features (B, d).
        head: the classifier layer (a `NormalizedDense` or a plain `Dense`).
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


class TrainStep:
    """One optimisation step of backbone + head with softmax cross-entropy.

    The head is called with the labels and `training=True`, so a
    `NormalizedDense` head produces its alpha-biased W-Softmax logits (Eq. 1).
    The loss is the batch mean cross-entropy plus the layers' regularisation
    losses, the same total that `model.fit` minimises. Train accuracy is
    measured with the test-time logits (original normalised W).

    Labels are range-checked in a separate plain `tf.function` before the
    compiled step, so the check also runs when `jit_compile=True` (XLA drops
    runtime assertions).

    Args:
        backbone: Keras model, images -> features.
        head: classifier layer.
        optimizer: a Keras optimizer.
        jit_compile: compile the step with XLA. Defaults to False.

    Call arguments:
        images: input batch.
        labels: int class ids (B,).

    Returns:
        dict with "loss" (scalar total loss), "cross_entropy" (scalar) and
        "correct" (number of correctly classified samples, float32).
    """

    def __init__(self, backbone, head, optimizer, jit_compile=False):
        self.backbone = backbone
        self.head = head
        self.optimizer = optimizer
        self.jit_compile = jit_compile
        self._step = tf.function(self._train_step, jit_compile=jit_compile)
        self._check = tf.function(self._check_labels)

    @property
    def trainable_variables(self):
        return self.backbone.trainable_variables + self.head.trainable_variables

    def _check_labels(self, labels):
        num_classes = self.head.units
        return checks.check_labels(labels, num_classes, labels)

    def loss_and_gradients(self, images, labels):
        """Computes the total loss and its gradients without applying them.

        Returns:
            (loss, cross_entropy, gradients, test_logits).
        """
        with tf.GradientTape() as tape:
            features, logits = classifier_logits(
                self.backbone, self.head, images, labels, training=True
            )
            cross_entropy = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
            )
            regularization = self.backbone.losses + self.head.losses
            loss = cross_entropy + (tf.add_n(regularization) if regularization else 0.0)
        gradients = tape.gradient(loss, self.trainable_variables)
        test_logits = self.head(features, training=False)
        return loss, cross_entropy, gradients, test_logits

    def _train_step(self, images, labels):
        labels = tf.cast(labels, tf.int32)
        loss, cross_entropy, gradients, test_logits = self.loss_and_gradients(images, labels)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        predictions = tf.argmax(test_logits, axis=-1, output_type=tf.int32)
        correct = tf.reduce_sum(tf.cast(tf.equal(predictions, labels), tf.float32))
        return {"loss": loss, "cross_entropy": cross_entropy, "correct": correct}

    def __call__(self, images, labels):
        return self._step(images, self._check(tf.convert_to_tensor(labels)))
