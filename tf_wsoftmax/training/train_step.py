"""A `tf.function`-compiled train step that uses the head's label-aware path."""

import tensorflow as tf

from tf_wsoftmax.ops import checks
from tf_wsoftmax.training import objective as objective_lib


class TrainStep:
    """One optimisation step of backbone + head (+ centre loss), softmax cross-entropy.

    The head is called with the labels and `training=True`, so a margin head
    produces its training logits (W-Softmax: the alpha-biased logits of
    Eq. 1). The loss is the batch-mean cross-entropy plus the layers'
    regularisation losses plus lambda * the centre loss, the same total that
    `model.fit` minimises. After the optimiser step the centre layer's own
    update runs (Wen et al.'s rule, or SGD on the centres with their learning
    rate for the contrastive-center loss). Train accuracy is measured with
    the test-time logits.

    Labels are range-checked in a separate plain `tf.function` before the
    compiled step, so the check also runs when `jit_compile=True` (XLA drops
    runtime assertions).

    Distributed training: build the models, the optimiser and the step under
    `strategy.scope()` (MirroredStrategy, MultiWorkerMirroredStrategy, or
    TPUStrategy) and call the step with the *global* batch (on every worker,
    the same batch). Each replica trains on its slice, its loss terms are
    scaled by the global batch size, the optimiser sums the replicas'
    gradients, centre statistics are all-reduced so every replica writes the
    same centres, and the returned numbers are summed over replicas.

    Args:
        backbone: Keras model, images -> features.
        head: classifier layer (a margin head or a plain `Dense`).
        optimizer: a Keras optimizer.
        jit_compile: compile the step with XLA. Defaults to False.
        feature_loss: optional `CenterLossLayer` / `ContrastiveCenterLossLayer`.

    Call arguments:
        images: input batch.
        labels: int class ids (B,).

    Returns:
        dict with "loss" (scalar total), "cross_entropy", "feature_loss" and
        "correct" (number of correctly classified samples, float32).
    """

    def __init__(self, backbone, head, optimizer, jit_compile=False, feature_loss=None):
        self.backbone = backbone
        self.head = head
        self.optimizer = optimizer
        self.jit_compile = jit_compile
        self.feature_loss = feature_loss
        self.strategy = tf.distribute.get_strategy()
        # Built inside `strategy.scope()`: run every step through `strategy.run`.
        self.distributed = tf.distribute.has_strategy()
        if self.distributed:
            if jit_compile:
                raise ValueError(
                    "`jit_compile=True` is not supported by `TrainStep` under a tf.distribute "
                    "strategy (the replica step synchronises gradients, which cannot sit inside a "
                    "nested XLA function). Use jit_compile=False, or Keras fit with MarginClassifier."
                )
            self._step = tf.function(self._distributed_step)
        else:
            self._step = tf.function(self._train_step, jit_compile=jit_compile)
        self._check = tf.function(self._check_labels)

    @property
    def trainable_variables(self):
        return objective_lib.trainable_variables(self.backbone, self.head)

    def _check_labels(self, labels):
        return checks.check_labels(labels, self.head.units, labels)

    def loss_and_gradients(self, images, labels):
        """The total loss and its gradients, without applying them.

        Returns:
            (loss, cross_entropy, gradients, test_logits).
        """
        outputs, grads, _ = objective_lib.gradients(
            self.backbone, self.head, None, images, labels, self.feature_loss
        )
        return outputs["loss"], outputs["cross_entropy"], grads, outputs["test_logits"]

    def _train_step(self, images, labels, global_batch_size=None):
        labels = tf.cast(labels, tf.int32)
        outputs = objective_lib.train_batch(
            self.backbone, self.head, self.optimizer, images, labels, self.feature_loss,
            global_batch_size=global_batch_size,
        )
        predictions = tf.argmax(outputs["test_logits"], axis=-1, output_type=tf.int32)
        correct = tf.reduce_sum(tf.cast(tf.equal(predictions, labels), tf.float32))
        return {
            "loss": outputs["loss"],
            "cross_entropy": outputs["cross_entropy"],
            "feature_loss": outputs["feature_loss"],
            "correct": correct,
        }

    def _replica_slice(self, images, labels, global_batch_size):
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync
        per_replica = (global_batch_size + replicas - 1) // replicas
        start = tf.minimum(tf.cast(context.replica_id_in_sync_group, tf.int32) * per_replica, global_batch_size)
        end = tf.minimum(start + per_replica, global_batch_size)
        return self._train_step(images[start:end], labels[start:end], global_batch_size)

    def _distributed_step(self, images, labels):
        global_batch_size = tf.shape(labels)[0]
        outputs = self.strategy.run(self._replica_slice, args=(images, labels, global_batch_size))
        return {
            key: self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
            for key, value in outputs.items()
        }

    def __call__(self, images, labels):
        if self.distributed and not self.optimizer.built:
            # Create the optimiser's slots eagerly, in the strategy's scope: a
            # variable created inside `strategy.run` in a tf.function cannot be.
            parts = [self.backbone, self.head] + ([self.feature_loss] if self.feature_loss else [])
            if not all(part.built for part in parts):
                raise ValueError(
                    "Under a tf.distribute strategy, build the backbone, head and centre layer "
                    "(e.g. call them once on a batch) before the first train step."
                )
            with self.strategy.scope():
                self.optimizer.build(self.trainable_variables)
        return self._step(images, self._check(tf.convert_to_tensor(labels)))
