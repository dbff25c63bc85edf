"""The W-Softmax head: bias-free, L2-normalised class vectors."""

import keras
import tensorflow as tf

from tf_wsoftmax import ops
from tf_wsoftmax import theory
from tf_wsoftmax.layers.margin_head import MarginHead
from tf_wsoftmax.ops import checks


@keras.saving.register_keras_serializable(package="tf_wsoftmax")
class NormalizedDense(MarginHead):
    """Bias-free dense classifier whose class vectors are L2-normalised.

    The W-Softmax head (Li & Wang 2019, Sec. 4). Its kernel W has shape
    (d, units); column j is class j's weight vector and is normalised to
    unit length inside `call`, so logits are ||x|| cos(theta_j). During
    training with labels, negative classes are scored with the weights-biased
    vectors W~_j = normalise(W_j + alpha W_y) (Eq. 1); at test time (no labels
    or `training=False`) the original normalised W is used. alpha = 0 is the
    normalised-softmax baseline.

    With `fixed_simplex=True` the kernel is the regular simplex of
    `tf_wsoftmax.theory.simplex_weights` (pairwise cosine -1/(K-1)) and is
    not trained; it needs d >= K - 1 feature units.

    Args:
        units: number of classes K (positive int).
        alpha: weight bias, a finite float >= 0. Defaults to 0.0.
        fixed_simplex: use a fixed, non-trainable simplex kernel. Defaults
            to False.
        kernel_initializer: Defaults to "glorot_uniform" (Xavier, as in the
            paper). Ignored with `fixed_simplex`.
        kernel_regularizer: Defaults to None.
        kernel_constraint: Defaults to None.
        **kwargs: base `keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
        inputs: features of shape (B, d).
        labels: optional integer class ids of shape (B,). Used only when
            `training` is true.
        training: Python bool or None.

    Returns:
        Logits of shape (B, units), float32.

    Example:
    >>> import numpy as np, keras
    >>> head = NormalizedDense(10, alpha=1.0)
    >>> x = np.random.randn(4, 16).astype("float32")
    >>> train_logits = head(x, labels=np.array([0, 1, 2, 3]), training=True)
    >>> test_logits = head(x)  # original normalised W
    >>> tuple(test_logits.shape)
    (4, 10)

    Reference:
        Li & Wang, "Learning Discriminative Features Via Weights-biased
        Softmax Loss", Pattern Recognition 107 (2020), Eq. 1.
    """

    def __init__(self, units, alpha=0.0, fixed_simplex=False, **kwargs):
        super().__init__(units, **kwargs)
        self.alpha = checks.check_non_negative(alpha, "alpha")
        if fixed_simplex and units < 2:
            raise ValueError("`fixed_simplex` needs units >= 2.")
        self.fixed_simplex = bool(fixed_simplex)

    def build(self, input_shape):
        if not self.fixed_simplex:
            return super().build(input_shape)
        simplex = theory.simplex_weights(self.units, dim=self._input_dim(input_shape))
        self.kernel = self.add_weight(
            name="kernel",
            shape=simplex.shape,
            initializer=keras.initializers.Constant(simplex.astype("float32")),
            trainable=False,
            dtype="float32",
        )

    def normalized_kernel(self):
        """Returns the (d, units) kernel with unit-norm columns (float32)."""
        return ops.normalize_kernel(tf.convert_to_tensor(self.kernel))

    def margin_logits(self, inputs, labels):
        return ops.wsoftmax_logits(inputs, self.kernel, labels, self.alpha)

    def test_logits(self, inputs):
        return ops.normalized_logits(inputs, self.kernel)

    def logits_from_outputs(self, outputs, labels, alpha=None):
        alpha = self.alpha if alpha is None else alpha
        unit_kernel = tf.cast(self.normalized_kernel(), outputs.dtype)
        return ops.wsoftmax_logits_from_cosine_logits(outputs, unit_kernel, labels, alpha)

    def get_config(self):
        config = super().get_config()
        config.update({"alpha": self.alpha, "fixed_simplex": self.fixed_simplex})
        return config
