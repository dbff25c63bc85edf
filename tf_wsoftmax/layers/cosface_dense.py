"""`CosFaceDense`: the CosFace / LMCL head."""

import keras

from tf_wsoftmax import ops
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

    max_margin = 2.0
    margin_fn = staticmethod(ops.cosface_logits)

    def __init__(self, units, scale=64.0, margin=0.35, **kwargs):
        super().__init__(units, scale, margin, **kwargs)

    def target(self, cos_target):
        return ops.cosface_target(cos_target, self.margin)
