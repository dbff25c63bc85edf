"""`ArcFaceDense`: the ArcFace head."""

import keras

from tf_wsoftmax import ops
from tf_wsoftmax.declarations import default_of
from tf_wsoftmax.layers.additive_margin_head import AdditiveMarginHead


@keras.saving.register_keras_serializable(package="tf_wsoftmax")
class ArcFaceDense(AdditiveMarginHead):
    """ArcFace head: target logit s cos(t_y + m), linear fallback past pi - m.

    Args:
        units: number of classes.
        scale: s > 0. Defaults to 64.
        margin: m in radians, [0, pi/2). Defaults to 0.5.
        **kwargs: `MarginHead` arguments.

    Reference: Deng, Guo, Xue, Zafeiriou, "ArcFace: Additive Angular Margin
    Loss for Deep Face Recognition", CVPR 2019.
    """

    loss_name = "arcface"
    margin_name = "angular_margin"

    def __init__(self, units, scale=default_of("arcface", "scale"), margin=default_of("arcface", "angular_margin"), **kwargs):
        super().__init__(units, scale, margin, **kwargs)

    def target(self, cos_target):
        return ops.arcface_target(cos_target, self.margin)
