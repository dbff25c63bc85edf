"""Center loss (Wen et al., ECCV 2016) as a centre-holding layer."""

import keras

from tf_wsoftmax import ops
from tf_wsoftmax.declarations import declaration_of
from tf_wsoftmax.declarations import default_of
from tf_wsoftmax.layers.class_centers import ClassCenters
from tf_wsoftmax.layers.class_centers import all_reduce_sum


@keras.saving.register_keras_serializable(package="tf_wsoftmax")
class CenterLossLayer(ClassCenters):
    """Center loss lambda * mean_i 1/2 ||x_i - c_{y_i}||^2 with Wen et al.'s update.

    The centres are not learned by the optimiser: after each train step
    `update` applies delta c_j = sum_{i: y_i=j} (c_j - x_i) / (1 + n_j),
    c_j <- c_j - center_rate delta c_j (Eq. 4; the paper's alpha, renamed
    because alpha is W-Softmax's), with this step's features.

    Args:
        num_classes: K.
        weight: lambda. Defaults to 0.01 (`tf_wsoftmax.declarations`; Wen et
            al. used 0.003 for faces).
        center_rate: the centres' update rate in [0, 1]. Defaults to 0.5.
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

    def __init__(
        self, num_classes, weight=default_of("center", "center_weight"), center_rate=default_of("center", "center_rate"),
        **kwargs,
    ):
        if "alpha" in kwargs:
            raise TypeError(
                "`CenterLossLayer` calls its update rate `center_rate` (alpha is W-Softmax's). "
                f"Received: alpha={kwargs['alpha']}"
            )
        super().__init__(num_classes, weight, **kwargs)
        self.center_rate = declaration_of("center", "center_rate").check(center_rate)

    def per_sample_loss(self, features, labels):
        return ops.center_loss(features, self.centers, labels)

    def update(self, features, labels):
        centers = keras.ops.convert_to_tensor(self.centers)
        sums, counts = ops.center_update_statistics(keras.ops.cast(features, centers.dtype), centers, labels)
        sums, counts = all_reduce_sum(sums, counts)  # global batch statistics under tf.distribute
        self.centers.assign(ops.apply_center_update(centers, sums, counts, self.center_rate))

    def get_config(self):
        config = super().get_config()
        config.update({"center_rate": self.center_rate})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "alpha" in config:  # files saved before the rename
            config["center_rate"] = config.pop("alpha")
        return cls(**config)
