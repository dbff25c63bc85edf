"""`MarginLoss`: a margin head's cross-entropy through `compile` / `fit`."""

import keras
import numpy as np

from tf_wsoftmax import ops
from tf_wsoftmax.layers import MarginHead
from tf_wsoftmax.layers.margin_head import in_shape_inference
from tf_wsoftmax.ops import _backend
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
    y_true = keras.ops.convert_to_tensor(y_true)
    if checks.rank(y_true) == 2 and y_true.shape[-1] == 1:
        y_true = keras.ops.squeeze(y_true, axis=-1)
    checks.check_rank(y_true, 1, "y_true", hint=" (expected (batch,) integer class ids, not one-hot)")
    if "float" in checks.dtype_name(y_true):
        y_true = _whole_labels(y_true)
    return checks.check_labels(y_true, checks.num_classes_of(logits, -1), logits, name="y_true")


def _whole_labels(y_true):
    """Float labels as int32, refusing fractional ones (a traced JAX batch maps them to -1, i.e. NaN)."""
    message = "`y_true` must hold integer class ids; found a fractional label"
    if _backend.is_tensorflow():
        return _backend._tensorflow().assert_whole_numbers(y_true, "y_true")
    if _backend.is_concrete(y_true):
        values = np.asarray(y_true)
        if np.any(values != np.round(values)):
            raise ValueError(message)
    whole = keras.ops.equal(y_true, keras.ops.round(y_true))
    return keras.ops.where(whole, keras.ops.cast(y_true, "int32"), -1)


@keras.saving.register_keras_serializable(package="tf_wsoftmax")
class MarginLoss(keras.losses.Loss):
    """Cross-entropy on a margin head's training logits, for the stock `compile` / `fit`.

    How it trains the head with `fit` and no label input: the model ends in a
    margin head (`NormalizedDense`, `CosFaceDense`, `ArcFaceDense`), whose
    output without labels is its test-time logits. This loss is bound to that
    head and turns the output into the training logits with
    `head.logits_from_outputs(y_pred, labels)`, reading the head's weights
    where the margin needs them (W-Softmax needs the cosines W_y . W_j).
    Keras computes the loss inside the same `GradientTape` as the forward
    pass, so gradients reach every weight the training logits depend on: the
    head stays an ordinary model weight that `fit` trains, saves and exports.
    The loss holds no variables (a variable hidden in a `Loss` would never be
    trained by `fit`).

    L-Softmax and A-Softmax need the feature norm, which a (batch, classes)
    output does not carry: they train with `MarginClassifier` or `TrainStep`.

    Args:
        head: the `MarginHead` whose raw output is `y_pred`. May be None when
            deserialising: the loss then binds itself at its first call to the
            head whose latest output `y_pred` is (named `head_name`), or
            `bind` binds it explicitly.
        reduction: Keras reduction. Defaults to "sum_over_batch_size".
        name: loss name. Defaults to "margin_loss".
        head_name: name of the head, kept in the config so that `bind` can
            find it in a loaded model. Defaults to `head.name`.
        **kwargs: other `keras.losses.Loss` arguments (e.g. dtype).

    Call arguments:
        y_true: integer class ids, shape (B,) or (B, 1).
        y_pred: the head's raw output, shape (B, K) (no softmax after it).

    Returns:
        The reduced cross-entropy (a scalar with the default reduction).
    """

    head_type = MarginHead

    def __init__(self, head=None, reduction="sum_over_batch_size", name="margin_loss", head_name=None, **kwargs):
        super().__init__(name=name, reduction=reduction, **kwargs)
        self.head = None
        self.head_name = head_name
        if head is not None:
            self.bind(head)

    def bind(self, target):
        """Binds the loss to its head.

        Args:
            target: the head layer, or a model containing a `MarginHead`
                named `head_name` (or exactly one `MarginHead`).

        Returns:
            self, for chaining.
        """
        if isinstance(target, self.head_type):
            head = target
        elif isinstance(target, keras.layers.Layer) and not isinstance(target, keras.Model):
            raise TypeError(
                f"`{type(self).__name__}` needs a `{self.head_type.__name__}` head. "
                f"Received: {type(target).__name__}"
            )
        else:
            candidates = [
                layer
                for layer in getattr(target, "_flatten_layers", lambda: [])()
                if isinstance(layer, self.head_type)
                and (self.head_name is None or layer.name == self.head_name)
            ]
            if len(candidates) != 1:
                raise ValueError(
                    f"Could not find a unique `{self.head_type.__name__}`"
                    + (f" named '{self.head_name}'" if self.head_name else "")
                    + f" to bind `{type(self).__name__}` to; found {len(candidates)}."
                )
            head = candidates[0]
        self.head = head
        self.head_name = head.name
        return self

    def training_logits(self, y_pred, labels, source=None):
        """The head's training logits from its output (subclasses may add options).

        Args:
            y_pred: the head's output as the loss received it.
            labels: validated int32 (B,) class ids.
            source: the object the head returned, when `y_pred` is a converted
                copy of it (see `__call__`).
        """
        return self.head.logits_from_outputs(y_pred, labels, source=source)

    def __call__(self, y_true, y_pred, sample_weight=None):
        # `keras.losses.Loss.__call__` converts `y_pred` before `call`; on JAX that
        # makes a new array, so the head's own output is kept to recognise it.
        self._received_y_pred = y_pred
        try:
            return super().__call__(y_true, y_pred, sample_weight=sample_weight)
        finally:
            self._received_y_pred = None

    def call(self, y_true, y_pred):
        source = getattr(self, "_received_y_pred", None)
        source = y_pred if source is None else source
        if self.head is None:
            # A loss loaded with its model (`keras.models.load_model`) binds itself
            # to the head whose latest output `y_pred` is (same name as saved).
            head = MarginHead.find_producer(source, self.head_type, self.head_name)
            if head is None and in_shape_inference():
                return keras.ops.zeros_like(y_pred[:, 0])  # shapes only: bind at the first real call
            if head is None:
                raise RuntimeError(
                    f"`{type(self).__name__}` is not bound to a head and `y_pred` is not the "
                    f"latest output of a `{self.head_type.__name__}`"
                    + (f" named '{self.head_name}'" if self.head_name else "")
                    + ". Pass the head to the constructor, or call `loss.bind(model)`."
                )
            self.bind(head)
        if y_pred.shape[-1] is not None and y_pred.shape[-1] != self.head.units:
            raise ValueError(
                f"`y_pred` has {y_pred.shape[-1]} classes but the bound head "
                f"'{self.head.name}' has units={self.head.units}; y_pred must be that "
                "head's raw output."
            )
        labels = sparse_labels_from_keras(y_true, y_pred)
        logits = self.training_logits(y_pred, labels, source)
        return ops.sparse_softmax_cross_entropy(labels, logits)

    def get_config(self):
        config = super().get_config()
        config.update({"head_name": self.head_name})
        return config
