"""Contrastive-center loss (Qi & Su 2017) as a centre-holding layer."""

import keras

from tf_wsoftmax import ops
from tf_wsoftmax.declarations import declaration_of
from tf_wsoftmax.declarations import default_of
from tf_wsoftmax.layers.class_centers import ClassCenters
from tf_wsoftmax.layers.class_centers import replica_mean


@keras.saving.register_keras_serializable(package="tf_wsoftmax")
class ContrastiveCenterLossLayer(ClassCenters):
    """lambda * mean_i 1/2 ||x_i - c_{y_i}||^2 / (sum_{j != y_i} ||x_i - c_j||^2 + delta).

    The centres are learned through this loss's gradient with their own
    learning rate: after each train step `update` applies
    c <- c - center_learning_rate * dL/dc (plain SGD on the centres, apart
    from the model's optimiser).

    Args:
        num_classes: K.
        weight: lambda. Defaults to 0.01 (`tf_wsoftmax.declarations`).
        delta: > 0, keeps the denominator away from 0. Defaults to 1.0.
        center_learning_rate: > 0. Defaults to 0.5.
        **kwargs: `ClassCenters` arguments.

    Reference: Qi & Su, "Contrastive-center loss for deep neural networks",
    arXiv 1707.07391 (2017).
    """


    def __init__(
        self,
        num_classes,
        weight=default_of("contrastive_center", "center_weight"),
        delta=default_of("contrastive_center", "delta"),
        center_learning_rate=default_of("contrastive_center", "center_learning_rate"),
        **kwargs,
    ):
        super().__init__(num_classes, weight, **kwargs)
        self.delta = declaration_of("contrastive_center", "delta").check(delta)
        self.center_learning_rate = declaration_of("contrastive_center", "center_learning_rate").check(
            center_learning_rate
        )

    def per_sample_loss(self, features, labels):
        return ops.contrastive_center_loss(features, self.centers, labels, self.delta)

    def center_gradient(self, features, labels):
        """d(lambda * batch mean of the loss)/d centres, in closed form (`ops.contrastive_center_gradient`).

        Args:
            features: (B, d) features (constants).
            labels: int (B,) class ids.

        Returns:
            (K, d) float32 gradient.
        """
        centers = keras.ops.convert_to_tensor(self.centers)
        gradient = ops.contrastive_center_gradient(keras.ops.cast(features, centers.dtype), centers, labels, self.delta)
        return self.weight * gradient

    def update(self, features, labels):
        """c <- c - center_learning_rate * dL/dc, the closed-form gradient of this step.

        Under `tf.distribute` each replica's gradient is that of its own batch
        mean; their mean over the replicas is the global batch's gradient.

        Args:
            features: this step's (B, d) features.
            labels: int (B,) class ids.
        """
        center_gradient = replica_mean(self.center_gradient(features, labels))
        self.centers.assign_sub(self.center_learning_rate * center_gradient)

    def get_config(self):
        config = super().get_config()
        config.update({"delta": self.delta, "center_learning_rate": self.center_learning_rate})
        return config
