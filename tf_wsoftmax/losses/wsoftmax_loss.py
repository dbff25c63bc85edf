"""`WSoftmaxLoss`: W-Softmax through `model.compile(loss=...)` and `model.fit`."""

import keras

from tf_wsoftmax.layers import NormalizedDense
from tf_wsoftmax.losses.margin_loss import MarginLoss
from tf_wsoftmax.ops import checks


@keras.saving.register_keras_serializable(package="tf_wsoftmax")
class WSoftmaxLoss(MarginLoss):
    """W-Softmax cross-entropy for the stock `compile` / `fit` API.

    A `MarginLoss` bound to a `NormalizedDense` head (see `MarginLoss` for how
    the head is trained by `fit`). The logits it scores are exactly
    `NormalizedDense(...)(x, labels, training=True)`: the column of class y is
    z_y = x . W_y, every other column is
    (z_j + alpha z_y) / ||W_j + alpha W_y|| = x . normalise(W_j + alpha W_y),
    computed from the head's output z and its kernel's cosines W_y . W_j.

    Args:
        head: the `NormalizedDense` layer whose raw output is `y_pred`. May
            be None when deserialising; call `bind` before training.
        alpha: weight bias >= 0. Defaults to None, meaning `head.alpha`.
        reduction: Keras reduction. Defaults to "sum_over_batch_size".
        name: loss name. Defaults to "wsoftmax_loss".
        head_name: name of the head, for `bind` after loading.
        **kwargs: other `keras.losses.Loss` arguments.

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

    head_type = NormalizedDense

    def __init__(self, head=None, alpha=None, reduction="sum_over_batch_size", name="wsoftmax_loss", head_name=None, **kwargs):
        self.alpha = None if alpha is None else checks.check_non_negative(alpha, "alpha")
        super().__init__(head=head, reduction=reduction, name=name, head_name=head_name, **kwargs)

    @property
    def effective_alpha(self):
        """The alpha in use: the loss's own, else the head's."""
        return self.head.alpha if self.alpha is None else self.alpha

    def training_logits(self, y_pred, labels):
        return self.head.logits_from_outputs(y_pred, labels, alpha=self.effective_alpha)

    def get_config(self):
        config = super().get_config()
        config.update({"alpha": self.alpha})
        return config
