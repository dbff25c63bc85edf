"""`SphereFaceDense`: the A-Softmax / SphereFace head."""

import keras

from tf_wsoftmax import ops
from tf_wsoftmax.declarations import default_of
from tf_wsoftmax.layers.angular_margin_head import AngularMarginHead


@keras.saving.register_keras_serializable(package="tf_wsoftmax")
class SphereFaceDense(AngularMarginHead):
    """A-Softmax / SphereFace head (Liu et al., CVPR 2017): normalised W.

    Training target logit |x| (psi(t_y) + lambda cos t_y) / (1 + lambda);
    test-time logits |x| cos t_j (features are not normalised).

    Args:
        units: number of classes.
        margin: m in {1, 2, 3, 4}. Defaults to 4.
        lambda_base: Defaults to 1000 (SphereFace's released setting).
        lambda_gamma: Defaults to 0.12.
        lambda_power: Defaults to 1.
        lambda_min: Defaults to 5.
        **kwargs: `MarginHead` arguments.

    Reference: Liu, Wen, Yu, Li, Raj, Song, "SphereFace: Deep Hypersphere
    Embedding for Face Recognition", CVPR 2017.
    """

    loss_name = "sphereface"

    def __init__(
        self,
        units,
        margin=default_of("sphereface", "multiplicative_margin"),
        lambda_base=default_of("sphereface", "lambda_base"),
        lambda_gamma=default_of("sphereface", "lambda_gamma"),
        lambda_power=default_of("sphereface", "lambda_power"),
        lambda_min=default_of("sphereface", "lambda_min"),
        **kwargs,
    ):
        super().__init__(units, margin, lambda_base, lambda_gamma, lambda_power, lambda_min, **kwargs)

    def test_logits(self, inputs):
        return ops.normalized_logits(inputs, self.class_vectors())

    def scoring(self):
        """x . W_j / ||W_j||; the label column A-Softmax's target at the schedule's current lambda."""
        return ops.Scoring(
            normalize_kernel=True, target=self._label_logit, target_parameters=(self.current_lambda(),),
            kernel_gradient=self.kernel.trainable,
        )

    def _label_logit(self, label_logit, feature_norm, kernel_norm, lambda_):
        return ops.sphereface_target(label_logit, feature_norm, self.margin, lambda_)

    def margin_logits_from(self, test_logits, inputs, labels, kernel=None):
        return ops.sphereface_logits_from_logits(
            test_logits, keras.ops.cast(inputs, test_logits.dtype), labels, self.margin, self.current_lambda()
        )
