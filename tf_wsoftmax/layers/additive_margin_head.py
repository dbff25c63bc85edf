"""Shared base of the additive-margin heads (CosFace, ArcFace): normalised features and class vectors, scale s."""

import math

from tf_wsoftmax import ops
from tf_wsoftmax.layers.margin_head import MarginHead
from tf_wsoftmax.ops import checks


class AdditiveMarginHead(MarginHead):
    """Base of the heads whose logits are s cos(t_j) with a margin on the target.

    Test-time logits are s cos(t_j); the training target is s * target(cos t_y).
    Because the training logits depend only on the test-time output, these
    heads also train through `MarginLoss` with a stock functional model.

    Args:
        units: number of classes.
        scale: s > 0.
        margin: the margin (its range is the subclass's).
        **kwargs: `MarginHead` arguments.
    """

    max_margin = math.inf

    def __init__(self, units, scale, margin, **kwargs):
        super().__init__(units, **kwargs)
        self.scale = checks.check_positive(scale, "scale")
        self.margin = checks.check_range(margin, "margin", 0.0, self.max_margin)

    def target(self, cos_target):
        """The margin target as a function of cos(t_y)."""
        raise NotImplementedError

    margin_fn = None  # ops.cosface_logits or ops.arcface_logits

    def margin_logits(self, inputs, labels):
        return type(self).margin_fn(inputs, self.kernel, labels, self.scale, self.margin)

    def test_logits(self, inputs):
        return self.scale * ops.cosine_logits(inputs, self.kernel)

    def logits_from_outputs(self, outputs, labels, source=None):
        return ops.additive_margin_logits(outputs / self.scale, labels, self.target, self.scale)

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale, "margin": self.margin})
        return config
