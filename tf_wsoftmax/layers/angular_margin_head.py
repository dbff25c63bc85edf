"""Shared base of the multiplicative-margin heads (L-Softmax, A-Softmax)."""

import keras
import tensorflow as tf

from tf_wsoftmax import ops
from tf_wsoftmax.layers.margin_head import MarginHead
from tf_wsoftmax.ops import checks


class AngularMarginHead(MarginHead):
    """A head with an integer angular margin m and the original lambda annealing.

    The training logits blend the margin target with the plain one:
    f_y = (margin target + lambda plain target) / (1 + lambda), with
    lambda = max(lambda_min, lambda_base (1 + lambda_gamma it)^-lambda_power)
    at training iteration `it`. The iteration counter is a non-trainable
    weight incremented by every training call with labels, so checkpoints
    resume the schedule. lambda_base = 0 and lambda_min = 0 give the pure
    margin.

    Args:
        units: number of classes.
        margin: integer m in {1, 2, 3, 4}.
        lambda_base, lambda_gamma, lambda_power, lambda_min: the schedule.
        **kwargs: `MarginHead` arguments.
    """

    margin_fn = None  # ops.lsoftmax_logits or ops.sphereface_logits

    def __init__(
        self,
        units,
        margin,
        lambda_base,
        lambda_gamma,
        lambda_power,
        lambda_min,
        **kwargs,
    ):
        super().__init__(units, **kwargs)
        self.margin = checks.check_integer_margin(margin)
        self.lambda_base = checks.check_non_negative(lambda_base, "lambda_base")
        self.lambda_gamma = checks.check_non_negative(lambda_gamma, "lambda_gamma")
        self.lambda_power = checks.check_non_negative(lambda_power, "lambda_power")
        self.lambda_min = checks.check_non_negative(lambda_min, "lambda_min")

    def build(self, input_shape):
        super().build(input_shape)
        self.add_step_counter()

    def current_lambda(self):
        """lambda at the current iteration (float32 scalar tensor)."""
        return ops.lsoftmax_lambda(
            self.iterations,
            base=self.lambda_base,
            gamma=self.lambda_gamma,
            power=self.lambda_power,
            lambda_min=self.lambda_min,
        )

    def margin_logits(self, inputs, labels):
        logits = type(self).margin_fn(
            inputs, self.kernel, labels, self.margin, lambda_=self.current_lambda()
        )
        self.iterations.assign_add(1)
        return logits

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "margin": self.margin,
                "lambda_base": self.lambda_base,
                "lambda_gamma": self.lambda_gamma,
                "lambda_power": self.lambda_power,
                "lambda_min": self.lambda_min,
            }
        )
        return config


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
    >>> head(x, labels=np.array([0, 1, 2, 0]), training=True).shape
    TensorShape([4, 3])

    Reference: Liu, Wen, Yu, Yang, "Large-Margin Softmax Loss for
    Convolutional Neural Networks", ICML 2016, Eq. 4-6.
    """

    margin_fn = staticmethod(ops.lsoftmax_logits)

    def __init__(
        self,
        units,
        margin=4,
        lambda_base=1000.0,
        lambda_gamma=2.5e-5,
        lambda_power=35.0,
        lambda_min=0.0,
        **kwargs,
    ):
        super().__init__(units, margin, lambda_base, lambda_gamma, lambda_power, lambda_min, **kwargs)

    def test_logits(self, inputs):
        inputs = checks.check_float(inputs, "features")
        dtype = checks.compute_dtype(inputs)
        return tf.matmul(tf.cast(inputs, dtype), tf.cast(self.kernel, dtype))


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

    margin_fn = staticmethod(ops.sphereface_logits)

    def __init__(
        self,
        units,
        margin=4,
        lambda_base=1000.0,
        lambda_gamma=0.12,
        lambda_power=1.0,
        lambda_min=5.0,
        **kwargs,
    ):
        super().__init__(units, margin, lambda_base, lambda_gamma, lambda_power, lambda_min, **kwargs)

    def test_logits(self, inputs):
        return ops.normalized_logits(inputs, self.kernel)
