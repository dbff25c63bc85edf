"""Center loss (Wen et al., ECCV 2016) as a centre-holding layer."""

import keras
import tensorflow as tf

from tf_wsoftmax import ops
from tf_wsoftmax.layers.class_centers import ClassCenters
from tf_wsoftmax.layers.class_centers import all_reduce_sum
from tf_wsoftmax.ops import checks


@keras.saving.register_keras_serializable(package="tf_wsoftmax")
class CenterLossLayer(ClassCenters):
    """Center loss lambda * mean_i 1/2 ||x_i - c_{y_i}||^2 with Wen et al.'s update.

    The centres are not learned by the optimiser: after each train step
    `update` applies delta c_j = sum_{i: y_i=j} (c_j - x_i) / (1 + n_j),
    c_j <- c_j - alpha delta c_j (Eq. 4), with this step's features.

    Args:
        num_classes: K.
        weight: lambda. Defaults to 0.003 (Wen et al.'s face setting).
        alpha: centre learning rate in [0, 1]. Defaults to 0.5.
        **kwargs: `ClassCenters` arguments.

    Example:
    >>> import numpy as np
    >>> layer = CenterLossLayer(3, weight=1.0)
    >>> x = np.ones((2, 4), "float32")
    >>> float(layer(x, np.array([0, 1])))  # centres start at 0
    2.0
    >>> layer.update(x, np.array([0, 1]))

    Reference: Wen, Zhang, Li, Qiao, "A Discriminative Feature Learning
    Approach for Deep Face Recognition", ECCV 2016.
    """

    def __init__(self, num_classes, weight=0.003, alpha=0.5, **kwargs):
        super().__init__(num_classes, weight, **kwargs)
        self.alpha = checks.check_range(alpha, "alpha", 0.0, 1.0 + 1e-12)

    def per_sample_loss(self, features, labels):
        return ops.center_loss(features, self.centers, labels)

    def update(self, features, labels, center_gradient=None):
        centers = tf.convert_to_tensor(self.centers)
        sums, counts = ops.center_update_statistics(tf.cast(features, tf.float32), centers, labels)
        sums, counts = all_reduce_sum(sums, counts)  # global batch statistics under tf.distribute
        self.centers.assign(ops.apply_center_update(centers, sums, counts, self.alpha))

    def get_config(self):
        config = super().get_config()
        config.update({"alpha": self.alpha})
        return config
