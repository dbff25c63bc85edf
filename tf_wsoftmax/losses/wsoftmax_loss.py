"""`WSoftmaxLoss`: W-Softmax through `model.compile(loss=...)` and `model.fit`."""

import keras
import tensorflow as tf

from tf_wsoftmax import ops
from tf_wsoftmax.layers import NormalizedDense
from tf_wsoftmax.ops import checks


def sparse_labels_from_keras(y_true, logits):
    """Turns the labels Keras hands a loss into validated int32 class ids.

    Keras casts `y_true` to the loss dtype (float32) before `Loss.call`, and
    datasets often give labels of shape (B, 1). This accepts (B,) or (B, 1),
    checks that float labels are whole numbers (0.5 or one-hot rows are
    errors, not truncated), and checks the range [0, K).

    Args:
        y_true: labels as Keras passes them.
        logits: the (B, K) predictions, for K and the batch size.

    Returns:
        int32 tensor of shape (B,).
    """
    y_true = tf.convert_to_tensor(y_true)
    if y_true.shape.rank == 2 and y_true.shape[-1] == 1:
        y_true = tf.squeeze(y_true, axis=-1)
    checks.check_rank(y_true, 1, "y_true", hint=" (expected (batch,) integer class ids, not one-hot)")
    if y_true.dtype.is_floating:
        whole = tf.debugging.assert_equal(
            y_true,
            tf.round(y_true),
            message="`y_true` must hold integer class ids; found a fractional label",
        )
        with tf.control_dependencies([whole]):
            y_true = tf.cast(y_true, tf.int32)
    num_classes = logits.shape[-1] if logits.shape[-1] is not None else tf.shape(logits)[-1]
    return checks.check_labels(y_true, num_classes, logits, name="y_true")


@keras.saving.register_keras_serializable(package="tf_wsoftmax")
class WSoftmaxLoss(keras.losses.Loss):
    """W-Softmax cross-entropy for the stock `compile` / `fit` API.

    How it trains the classifier with `fit`: the model ends in a
    `NormalizedDense` head, which (without labels) outputs the normalised
    logits z = x . W_j/||W_j||. This loss is bound to that head and reads its
    kernel variable when called. Keras computes the loss inside the same
    `GradientTape` as the forward pass, so gradients reach the kernel both
    through z and through the class-vector cosines W_y . W_j of Eq. 1: the
    classifier stays an ordinary model weight that `fit` trains, saves and
    exports. The loss itself holds no variables (a variable hidden in a
    `Loss` would never be trained by `fit`).

    The logits the loss scores are exactly `NormalizedDense(...)(x, labels,
    training=True)`: the column of class y is z_y, every other column is
    (z_j + alpha z_y) / ||W_j + alpha W_y|| = x . normalise(W_j + alpha W_y).

    Args:
        head: the `NormalizedDense` layer whose raw output is `y_pred`. May
            be None when deserialising; call `bind` before training.
        alpha: weight bias >= 0. Defaults to None, meaning `head.alpha`.
        reduction: Keras reduction. Defaults to "sum_over_batch_size".
        name: loss name. Defaults to "wsoftmax_loss".
        head_name: name of the head, kept in the config so that `bind` can
            find it in a loaded model. Defaults to `head.name`.
        **kwargs: other `keras.losses.Loss` arguments (e.g. dtype).

    Call arguments:
        y_true: integer class ids, shape (B,) or (B, 1).
        y_pred: the head's output, shape (B, K). It must be the raw
            `NormalizedDense` output (no softmax after it).

    Returns:
        The reduced cross-entropy (a scalar with the default reduction).

    Example:
    >>> import numpy as np, keras
    >>> from tf_wsoftmax.layers import NormalizedDense
    >>> head = NormalizedDense(3, alpha=1.0)
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), head])
    >>> model.compile("sgd", loss=WSoftmaxLoss(head))
    >>> x, y = np.random.randn(32, 4), np.random.randint(0, 3, 32)
    >>> _ = model.fit(x, y, epochs=1, verbose=0)

    Reference:
        Li & Wang 2019, Eq. 1 and Eq. 10-13.
    """

    def __init__(
        self,
        head=None,
        alpha=None,
        reduction="sum_over_batch_size",
        name="wsoftmax_loss",
        head_name=None,
        **kwargs,
    ):
        super().__init__(name=name, reduction=reduction, **kwargs)
        if alpha is not None:
            alpha = checks.check_non_negative_scalar(alpha, "alpha")
            if not isinstance(alpha, float):
                raise TypeError(f"`alpha` must be a Python number. Received: alpha={alpha}")
        self.alpha = alpha
        self.head = None
        self.head_name = head_name
        if head is not None:
            self.bind(head)

    def bind(self, target):
        """Binds the loss to its `NormalizedDense` head.

        Args:
            target: the head layer, or a model containing a `NormalizedDense`
                named `head_name` (or exactly one `NormalizedDense`).

        Returns:
            self, for chaining.
        """
        if isinstance(target, NormalizedDense):
            head = target
        else:
            candidates = [
                layer
                for layer in getattr(target, "_flatten_layers", lambda: [])()
                if isinstance(layer, NormalizedDense)
                and (self.head_name is None or layer.name == self.head_name)
            ]
            if len(candidates) != 1:
                raise ValueError(
                    "Could not find a unique `NormalizedDense` layer"
                    + (f" named '{self.head_name}'" if self.head_name else "")
                    + f" to bind `WSoftmaxLoss` to; found {len(candidates)}."
                )
            head = candidates[0]
        self.head = head
        self.head_name = head.name
        return self

    @property
    def effective_alpha(self):
        """The alpha in use: the loss's own, else the head's."""
        return self.head.alpha if self.alpha is None else self.alpha

    def call(self, y_true, y_pred):
        if self.head is None:
            raise RuntimeError(
                "`WSoftmaxLoss` is not bound to a `NormalizedDense` head. Pass "
                "`WSoftmaxLoss(head, ...)`, or call `loss.bind(model)` after loading a "
                "compiled model."
            )
        if y_pred.shape[-1] is not None and y_pred.shape[-1] != self.head.units:
            raise ValueError(
                f"`y_pred` has {y_pred.shape[-1]} classes but the bound head "
                f"'{self.head.name}' has units={self.head.units}; y_pred must be that "
                "head's raw output."
            )
        labels = sparse_labels_from_keras(y_true, y_pred)
        unit_kernel = tf.cast(self.head.normalized_kernel(), y_pred.dtype)
        logits = ops.wsoftmax_logits_from_cosine_logits(
            y_pred, unit_kernel, labels, self.effective_alpha
        )
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)

    def get_config(self):
        config = super().get_config()
        config.update({"alpha": self.alpha, "head_name": self.head_name})
        return config
