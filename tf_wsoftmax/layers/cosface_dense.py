"""`CosFaceDense`: the CosFace / LMCL head."""

import keras

from tf_wsoftmax import ops
from tf_wsoftmax.declarations import default_of
from tf_wsoftmax.layers.additive_margin_head import AdditiveMarginHead


@keras.saving.register_keras_serializable(package="tf_wsoftmax")
class CosFaceDense(AdditiveMarginHead):
    """CosFace / LMCL head: target logit s (cos t_y - m).

    Args:
        units: number of classes.
        scale: s > 0. Defaults to 64.
        margin: m in [0, 2). Defaults to 0.35.
        **kwargs: `MarginHead` arguments.

    Reference: Wang et al., "CosFace: Large Margin Cosine Loss for Deep Face
    Recognition", CVPR 2018.
    """

    loss_name = "cosface"
    margin_name = "cosine_margin"

    def __init__(self, units, scale=default_of("cosface", "scale"), margin=default_of("cosface", "cosine_margin"), **kwargs):
        super().__init__(units, scale, margin, **kwargs)

    def target(self, cos_target):
        return ops.cosface_target(cos_target, self.margin)
