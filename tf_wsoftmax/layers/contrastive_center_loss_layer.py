"""Contrastive-center loss (Qi & Su 2017) as a centre-holding layer."""

import keras

from tf_wsoftmax import ops
from tf_wsoftmax.layers.class_centers import ClassCenters
from tf_wsoftmax.layers.class_centers import all_reduce_sum
from tf_wsoftmax.ops import checks


@keras.saving.register_keras_serializable(package="tf_wsoftmax")
class ContrastiveCenterLossLayer(ClassCenters):
    """lambda * mean_i 1/2 ||x_i - c_{y_i}||^2 / (sum_{j != y_i} ||x_i - c_j||^2 + delta).

    The centres are learned through this loss's gradient with their own
    learning rate: after each train step `update` applies
    c <- c - center_learning_rate * dL/dc (plain SGD on the centres, apart
    from the model's optimiser).

    Args:
        num_classes: K.
        weight: lambda. Defaults to 1.0.
        delta: > 0, keeps the denominator away from 0. Defaults to 1.0.
        center_learning_rate: > 0. Defaults to 0.5.
        **kwargs: `ClassCenters` arguments.

    Reference: Qi & Su, "Contrastive-center loss for deep neural networks",
    arXiv 1707.07391 (2017).
    """

    learns_by_gradient = True

    def __init__(self, num_classes, weight=1.0, delta=1.0, center_learning_rate=0.5, **kwargs):
        super().__init__(num_classes, weight, **kwargs)
        self.delta = checks.check_positive(delta, "delta")
        self.center_learning_rate = checks.check_positive(center_learning_rate, "center_learning_rate")

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
        gradient = ops.contrastive_center_gradient(keras.ops.cast(features, "float32"), centers, labels, self.delta)
        return self.weight * gradient

    def update(self, features, labels, center_gradient=None):
        """c <- c - center_learning_rate * dL/dc.

        Args:
            features: this step's (B, d) features.
            labels: int (B,) class ids.
            center_gradient: the centres' gradient from the train step's tape
                (`TrainStep`, which passes each replica's share); None computes
                it here from `features` (`center_gradient`), on any backend.
        """
        if center_gradient is None:
            center_gradient = self.center_gradient(features, labels)
        else:
            (center_gradient,) = all_reduce_sum(center_gradient)  # replicas hold partial gradients
        self.centers.assign_sub(self.center_learning_rate * center_gradient)

    def get_config(self):
        config = super().get_config()
        config.update({"delta": self.delta, "center_learning_rate": self.center_learning_rate})
        return config
