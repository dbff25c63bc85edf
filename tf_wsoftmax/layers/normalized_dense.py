"""The bias-free classifier head with L2-normalised class vectors."""

import math

import keras
import tensorflow as tf

from tf_wsoftmax import ops


@keras.saving.register_keras_serializable(package="tf_wsoftmax")
class NormalizedDense(keras.layers.Layer):
    """Bias-free dense classifier whose class vectors are L2-normalised.

    The W-Softmax head (Li & Wang 2019, Sec. 4). Its kernel W has shape
    (d, units); column j is class j's weight vector and is normalised to
    unit length inside `call`, so logits are ||x|| cos(theta_j). During
    training with labels, negative classes are scored with the weights-biased
    vectors W~_j = normalise(W_j + alpha W_y) (Eq. 1); at test time (no labels
    or `training=False`) the original normalised W is used.

    The layer always computes in float32 (float64 for float64 inputs) and
    returns float32 logits, also under a mixed precision policy.

    Args:
        units: number of classes K (positive int).
        alpha: weight bias, a finite float >= 0. 0 is plain softmax on
            normalised weights; larger values widen the angular margin.
            Defaults to 0.0.
        kernel_initializer: initializer of the (d, K) kernel. Defaults to
            "glorot_uniform" (Xavier, as in the paper).
        kernel_regularizer: optional regularizer on the raw kernel.
            Defaults to None.
        kernel_constraint: optional constraint on the kernel. Defaults to None.
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

    def __init__(
        self,
        units,
        alpha=0.0,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        kernel_constraint=None,
        **kwargs,
    ):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise ValueError(f"`units` must be a positive int. Received: units={units}")
        if (
            not isinstance(alpha, (int, float))
            or isinstance(alpha, bool)
            or not math.isfinite(alpha)
            or alpha < 0
        ):
            raise ValueError(f"`alpha` must be a finite number >= 0. Received: alpha={alpha}")
        self.units = units
        self.alpha = float(alpha)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                f"The last dimension of the inputs to `NormalizedDense` must be known. "
                f"Received input_shape={input_shape}"
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(input_dim, self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            dtype="float32",
        )
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: input_dim})

    def normalized_kernel(self):
        """Returns the (d, units) kernel with unit-norm columns (float32)."""
        return ops.normalize_kernel(tf.convert_to_tensor(self.kernel))

    def call(self, inputs, labels=None, training=None):
        if labels is not None and training:
            return ops.wsoftmax_logits(inputs, self.kernel, labels, self.alpha)
        return ops.normalized_logits(inputs, self.kernel)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def compute_output_spec(self, inputs, labels=None, training=None):
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "alpha": self.alpha,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
            }
        )
        return config
