"""A `tf.function`-compiled train step over the library's one objective."""

import tensorflow as tf

from tf_wsoftmax.losses import objective as objective_lib  # the module
from tf_wsoftmax.ops import checks
from tf_wsoftmax.training import column_step
from tf_wsoftmax.training.lazy_columns import register_sampled_kernels


class TrainStep:
    """One optimisation step of backbone + head (+ centre loss).

    The loss is `tf_wsoftmax.losses.objective`, the function
    `MarginClassifier.compute_loss` (hence `fit`) uses too: the head's
    training logits from the labels (W-Softmax: the alpha-biased logits of
    Eq. 1), their softmax cross-entropy, the layers' regularisation losses and
    lambda * the centre loss, whose centres are updated in the same step.
    Train accuracy is measured on the test-time logits of the same head pass
    (with class sampling: among the sampled classes). A class-sampling head
    (Partial FC) needs no strategy and a `LazyColumnSGD` (also inside a
    `LossScaleOptimizer`), which keeps its unsampled classes and their
    momentum unchanged; another optimizer is refused. Its step is a column
    step (`tf_wsoftmax.training.column_step`): the head's sampled rows (its
    kernel is class-major, (K, d)) are differentiated instead of its
    kernel, and the optimizer receives their (W, d) gradient with their
    class ids.

    Labels are range-checked in a separate plain `tf.function` before an XLA
    step, so the check also runs when `jit_compile=True` (XLA drops run-time
    assertions).

    Distributed training: build the models, the optimiser and the step under
    `strategy.scope()` (MirroredStrategy, MultiWorkerMirroredStrategy). The
    step runs `strategy.run` over the replicas: pass a batch from
    `step.distribute(dataset)` (a distributed dataset), or a global batch,
    which is split the same way (on every worker, the same batch). Keras'
    loss reduction makes each replica's loss its share of the global mean,
    the optimiser sums the replicas' gradients, centre statistics are
    all-reduced so every replica writes the same centres, and the returned
    numbers are summed over replicas.

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
        dict with "loss" (scalar total), "cross_entropy", "feature_loss",
        "correct" (correctly classified samples, float32) and "samples".
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
        if self.distributed and getattr(head, "samples_classes", False):
            raise ValueError(
                "Class sampling (`sample_rate` < 1) is not supported by `TrainStep` under a tf.distribute "
                "strategy (each replica would draw from its own share of the batch). Train it on one "
                "device, or with `MarginClassifier` on JAX with `keras.distribution`."
            )
        if self.distributed:
            if jit_compile:
                raise ValueError(
                    "`jit_compile=True` is not supported by `TrainStep` under a tf.distribute "
                    "strategy (the replica step synchronises gradients, which cannot sit inside a "
                    "nested XLA function). Use jit_compile=False, or Keras fit with MarginClassifier."
                )
            self._step = tf.function(self._distributed_step)
        else:
            self._step = tf.function(self._replica_step, jit_compile=jit_compile)
        self._check = tf.function(self._check_labels)
        if head.built:
            register_sampled_kernels(optimizer, [head])  # else at the first trace

    @property
    def trainable_variables(self):
        """The variables the optimiser updates (centres are not among them)."""
        return self.backbone.trainable_variables + self.head.trainable_variables

    def _check_labels(self, labels):
        return checks.check_labels(labels, self.head.units, labels)

    def loss_and_gradients(self, images, labels):
        """The objective and its gradients, without applying them (nor the centre update).

        Returns:
            (objective outputs, gradients of `trainable_variables`).
        """
        with tf.GradientTape() as tape:
            outputs = self._objective(images, labels, feature_loss=None)
        return outputs, tape.gradient(outputs["loss"], self.trainable_variables)

    def _objective(self, images, labels, feature_loss):
        features = self.backbone(images, training=True)
        return objective_lib.compute_objective(
            self.head, features, labels, None, feature_loss, self.backbone.losses + self.head.losses, training=True
        )

    def _replica_step(self, images, labels):
        labels = tf.cast(labels, tf.int32)
        if not self.head.built and getattr(self.head, "samples_classes", False):
            self.head.build(self.backbone.compute_output_shape(images.shape))  # its kernel, before the tape
        register_sampled_kernels(self.optimizer, [self.head])  # at trace time: a sampling head is built by now
        heads = column_step.column_heads(self.optimizer, [self.head], self.head.trainable_variables)
        with tf.GradientTape() as tape:
            # A sampling head's kernel: differentiated and updated by its sampled columns alone.
            with column_step.recording(heads, tape=tape) as records:
                outputs = self._objective(images, labels, self.feature_loss)
            scaled = self.optimizer.scale_loss(outputs["loss"])
        variables = self.trainable_variables  # after the objective: the layers are built
        gradients = column_step.tensorflow_gradients(tape, scaled, variables, heads, records)
        with column_step.applying(self.optimizer, heads, records):
            self.optimizer.apply(gradients, variables)
        return {
            "loss": outputs["loss"],
            "cross_entropy": outputs["cross_entropy"],
            "feature_loss": outputs["feature_loss"],
            "correct": tf.reduce_sum(outputs["correct"]),
            "samples": tf.cast(tf.shape(labels)[0], tf.float32),
        }

    def _distributed_step(self, images, labels):
        outputs = self.strategy.run(self._replica_step, args=(images, labels))
        return {
            key: self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
            for key, value in outputs.items()
        }

    def distribute(self, dataset):
        """`dataset` (batched, global batches) as this step's strategy distributes it.

        Each global batch is split over the replicas of all workers (tf.data's
        DATA auto-sharding: every worker reads the same input and keeps its
        share of each batch), so each step trains on the same samples as a
        single-device run. Without a strategy the dataset is returned
        unchanged.

        Args:
            dataset: a batched `tf.data.Dataset` of (images, labels).

        Returns:
            A dataset whose elements this step takes.
        """
        if not self.distributed:
            return dataset
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return self.strategy.experimental_distribute_dataset(dataset.with_options(options))

    def _build_optimizer(self):
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

    def __call__(self, images, labels):
        if not self.distributed:
            return self._step(images, self._check(tf.convert_to_tensor(labels)))
        if not self.optimizer.built:
            self._build_optimizer()
        if not isinstance(labels, tf.distribute.DistributedValues):
            labels = self._check(tf.convert_to_tensor(labels))
            batch = tf.data.Dataset.from_tensor_slices((images, labels)).batch(int(labels.shape[0]))
            images, labels = next(iter(self.distribute(batch)))
        return self._step(images, labels)
