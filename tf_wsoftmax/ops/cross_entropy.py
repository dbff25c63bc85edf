"""Softmax cross-entropy on integer labels, on every Keras backend."""

import keras

from tf_wsoftmax.ops import _backend
from tf_wsoftmax.ops import checks


def sparse_softmax_cross_entropy(labels, logits):
    """Per-sample softmax cross-entropy -log softmax(logits)_y.

    On TensorFlow this is `tf.nn.sparse_softmax_cross_entropy_with_logits`
    (whose XLA kernel returns NaN for an out-of-range label); elsewhere
    `keras.ops.sparse_categorical_crossentropy`, with NaN for an out-of-range
    label inside a trace, in the loss and in its gradient (a one-hot of such a
    label is all zeros and would give a silent 0 loss and 0 gradient).

    Args:
        labels: int32 (B,) class ids, validated by `checks.check_labels`.
        logits: float (B, K).

    Returns:
        (B,) losses in the dtype of `logits`.
    """
    if _backend.is_tensorflow():
        return _backend._tensorflow().sparse_softmax_cross_entropy(labels, logits)
    num_classes = checks.num_classes_of(logits, -1)
    # The rows of invalid labels are NaN in the logits, so that the NaN reaches the gradient (XLA
    # turns one_hot * g into a select, which would drop a NaN factor on the loss alone), and in the
    # loss (whose one-hot product would otherwise read 0 for them).
    logits = checks.mark_invalid_labels(logits, labels, num_classes)
    losses = keras.ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    return checks.mark_invalid_labels(losses, labels, num_classes)
