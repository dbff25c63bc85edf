"""`LSoftmaxDense`: the L-Softmax head."""

import keras

from tf_wsoftmax import ops
from tf_wsoftmax.declarations import default_of
from tf_wsoftmax.layers.angular_margin_head import AngularMarginHead
from tf_wsoftmax.ops import checks


@keras.saving.register_keras_serializable(package="tf_wsoftmax")
class LSoftmaxDense(AngularMarginHead):
    """L-Softmax head (Liu et al., ICML 2016): bias-free, unnormalised W.

    Training target logit (|W_y||x| psi(t_y) + lambda W_y.x) / (1 + lambda),
    psi(t) = (-1)^k cos(m t) - 2k; test-time logits W_j . x.

    Args:
        units: number of classes.
        margin: m in {1, 2, 3, 4}. Defaults to 4.
        lambda_base: Defaults to 1000 (the original MNIST setting).
        lambda_gamma: Defaults to 2.5e-5.
        lambda_power: Defaults to 35.
        lambda_min: Defaults to 0.
        **kwargs: `MarginHead` arguments (kernel_initializer, ...).

    Example:
    >>> import numpy as np
    >>> head = LSoftmaxDense(3, margin=2, lambda_base=0.0)
    >>> x = np.random.randn(4, 5).astype("float32")
    >>> tuple(head(x, labels=np.array([0, 1, 2, 0]), training=True).shape)
    (4, 3)

    Reference: Liu, Wen, Yu, Yang, "Large-Margin Softmax Loss for
    Convolutional Neural Networks", ICML 2016, Eq. 4-6.
    """

    loss_name = "lsoftmax"

    def __init__(
        self,
        units,
        margin=default_of("lsoftmax", "multiplicative_margin"),
        lambda_base=default_of("lsoftmax", "lambda_base"),
        lambda_gamma=default_of("lsoftmax", "lambda_gamma"),
        lambda_power=default_of("lsoftmax", "lambda_power"),
        lambda_min=default_of("lsoftmax", "lambda_min"),
        **kwargs,
    ):
        super().__init__(units, margin, lambda_base, lambda_gamma, lambda_power, lambda_min, **kwargs)

    def test_logits(self, inputs):
        inputs = checks.check_float(inputs, "features")
        dtype = checks.compute_dtype(inputs)
        return keras.ops.matmul(keras.ops.cast(inputs, dtype), keras.ops.cast(self.class_vectors(), dtype))

    def scoring(self):
        """Plain W_j . x; the label column L-Softmax's target at the schedule's current lambda."""
        return ops.Scoring(
            target=self._label_logit, target_parameters=(self.current_lambda(),), kernel_gradient=self.kernel.trainable
        )

    def _label_logit(self, label_logit, feature_norm, kernel_norm, lambda_):
        return ops.lsoftmax_target(label_logit, feature_norm, kernel_norm, self.margin, lambda_)

    def margin_logits_from(self, test_logits, inputs, labels, kernel=None):
        return ops.lsoftmax_logits_from_logits(
            test_logits, keras.ops.cast(inputs, test_logits.dtype), keras.ops.cast(self.class_vectors(), test_logits.dtype),
            labels, self.margin, self.current_lambda(),
        )
