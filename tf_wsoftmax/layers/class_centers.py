"""`ClassCenters`: base of the layers that hold one centre per class."""

import keras

from tf_wsoftmax.declarations import declaration_of
from tf_wsoftmax.ops import _backend


class ClassCenters(keras.layers.Layer):
    """Holds a (num_classes, d) centre matrix as a non-trainable weight.

    The centres are training-only state: checkpoints and `.keras` files of a
    model that tracks the layer carry them, while the serving model
    (backbone + head) does not contain them. They are never updated by the
    model's optimiser (they are not trainable); `update` applies the loss's
    own rule once per train step.

    Call returns `weight * mean_i loss_i` (a float32 scalar), the term added
    to the classification loss: L = L_cls + lambda L_center.

    Args:
        num_classes: K.
        weight: lambda >= 0.
        centers_initializer: Defaults to "zeros".
        **kwargs: base layer arguments.
    """


    def __init__(self, num_classes, weight, centers_initializer="zeros", **kwargs):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"`num_classes` must be a positive int. Received: num_classes={num_classes}")
        self.num_classes = num_classes
        self.weight = declaration_of("center", "center_weight").check(weight)
        self.centers_initializer = keras.initializers.get(centers_initializer)

    def build(self, input_shape):
        self.centers = self.add_weight(
            name="centers",
            shape=(self.num_classes, input_shape[-1]),
            initializer=self.centers_initializer,
            trainable=False,
            dtype=self.variable_dtype,
            aggregation="mean",  # every replica assigns the same all-reduced value
        )

    def per_sample_loss(self, features, labels):
        """Per-sample loss (B,). Implemented by subclasses."""
        raise NotImplementedError

    def call(self, features, labels):
        """lambda * the batch mean of the per-sample loss (this replica's batch under `tf.distribute`)."""
        per_sample = self.per_sample_loss(keras.ops.cast(features, self.centers.dtype), labels)
        return self.weight * keras.ops.mean(per_sample)

    def update(self, features, labels):
        """Applies the centre update of one train step. Implemented by subclasses.

        Under `tf.distribute` it is called in each replica with that replica's
        batch; implementations all-reduce what they need (`all_reduce_sum`)
        so that every replica writes the same centres.
        """
        raise NotImplementedError

    def compute_output_spec(self, features, labels):
        return keras.KerasTensor((), dtype=self.variable_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "weight": self.weight,
                "centers_initializer": keras.initializers.serialize(self.centers_initializer),
            }
        )
        return config


def all_reduce_sum(*values):
    """Sums tensors over the `tf.distribute` replicas (identity without a strategy, and on JAX,
    where `keras.distribution`'s SPMD partitioning sums over the sharded batch itself)."""
    return _backend.all_reduce_sum(*values)


def replica_mean(value):
    """The mean over the `tf.distribute` replicas (identity without a strategy, and on JAX)."""
    (total,) = all_reduce_sum(value)
    return _backend.replica_share(total)
