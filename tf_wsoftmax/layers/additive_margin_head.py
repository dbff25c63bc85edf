"""Shared base of the additive-margin heads (CosFace, ArcFace): normalised features and class vectors, scale s."""

from tf_wsoftmax import ops
from tf_wsoftmax.declarations import declaration_of
from tf_wsoftmax.layers.margin_head import MarginHead
from tf_wsoftmax.ops import checks


class AdditiveMarginHead(MarginHead):
    """Base of the heads whose logits are s cos(t_j) with a margin on the target.

    Test-time logits are s cos(t_j); the training target is s * target(cos t_y),
    a function of the test-time output alone.

    Args:
        units: number of classes.
        scale: s > 0.
        margin: the margin (its range is the subclass's).
        **kwargs: `MarginHead` arguments.
    """

    supports_class_sampling = True
    loss_name = None  # the `tf_wsoftmax.declarations` entry: "cosface" or "arcface"
    margin_name = None  # its margin hyperparameter

    def __init__(self, units, scale, margin, **kwargs):
        super().__init__(units, **kwargs)
        self.scale = declaration_of(self.loss_name, "scale").check(scale, "scale")
        self.margin = declaration_of(self.loss_name, self.margin_name).check(margin, "margin")

    def build(self, input_shape):
        super().build(input_shape)
        if self.samples_classes:
            self.add_class_sampler()

    @property
    def margin_needs_features(self):
        """False: the margin is a function of the test-time output s cos(t_j) alone."""
        return False

    def target(self, cos_target):
        """The margin target as a function of cos(t_y)."""
        raise NotImplementedError

    def logits_with(self, inputs, kernel):
        return self.scale * ops.cosine_logits(inputs, kernel)

    def scoring(self):
        """s cos(t_j) of unit features and class vectors; the label column s * target(cos t_y)."""
        return ops.Scoring(
            normalize_features=True, normalize_kernel=True, scale=self.scale, clip=True, target=self._label_logit,
            kernel_gradient=self.kernel.trainable,
        )

    def _label_logit(self, label_logit, feature_norm, kernel_norm):
        return self.scale * self.target(label_logit / self.scale)

    def margin_logits_from(self, test_logits, inputs, labels, kernel=None):
        logits = ops.additive_margin_logits(test_logits / self.scale, labels, self.target, self.scale)
        return checks.mark_invalid_labels(logits, labels, checks.num_classes_of(test_logits, -1))

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale, "margin": self.margin})
        return config
