"""`WSoftmaxLoss`: W-Softmax through `model.compile(loss=...)` and `model.fit`."""

import keras

from tf_wsoftmax.layers import NormalizedDense
from tf_wsoftmax.losses.margin_loss import MarginLoss


@keras.saving.register_keras_serializable(package="tf_wsoftmax")
class WSoftmaxLoss(MarginLoss):
    """W-Softmax cross-entropy for the stock `compile` / `fit` API.

    A `MarginLoss` bound to a `NormalizedDense` head (see `MarginLoss` for how
    the head is trained by `fit`). The logits it scores are exactly
    `NormalizedDense(...)(x, labels, training=True)`: the column of class y is
    z_y = x . W_y, every other column is
    (z_j + alpha z_y) / ||W_j + alpha W_y|| = x . normalise(W_j + alpha W_y),
    computed from the head's output z and its kernel's cosines W_y . W_j.

    The head's state decides everything: its alpha (a weight, so a change
    between steps takes effect), its warm-up schedule (Algorithm 1 inside one
    `fit`, counted in training steps only) and its `bias_gradient` mode. In
    evaluation the loss is the cross-entropy of the test-time logits.

    Args:
        head: the `NormalizedDense` layer whose raw output is `y_pred`. May
            be None when deserialising; call `bind(model)` before use.
        reduction: Keras reduction. Defaults to "sum_over_batch_size".
        name: loss name. Defaults to "wsoftmax_loss".
        head_name: name of the head, for `bind` after loading.
        **kwargs: other `keras.losses.Loss` arguments.

    Example:
    >>> import numpy as np, keras
    >>> from tf_wsoftmax.layers import NormalizedDense
    >>> head = NormalizedDense(3, alpha=1.0, alpha_warmup_steps=2)
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), head])
    >>> model.compile("sgd", loss=WSoftmaxLoss(head))
    >>> x, y = np.random.randn(32, 4), np.random.randint(0, 3, 32)
    >>> _ = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    >>> int(head.iterations.numpy()), float(head.current_alpha())
    (4, 1.0)

    Reference:
        Li & Wang 2019, Eq. 1 and Eq. 10-13, Algorithm 1.
    """

    head_type = NormalizedDense

    def __init__(self, head=None, reduction="sum_over_batch_size", name="wsoftmax_loss", head_name=None, **kwargs):
        if kwargs.pop("alpha", None) is not None:
            raise ValueError(
                "`WSoftmaxLoss` takes alpha from its head, where it is state that schedules and "
                "checkpoints see: set `NormalizedDense(alpha=...)` or `head.alpha = ...`."
            )
        super().__init__(head=head, reduction=reduction, name=name, head_name=head_name, **kwargs)
