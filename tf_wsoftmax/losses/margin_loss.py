"""`MarginLoss`: a margin head's cross-entropy through the stock `compile` / `fit`."""

import keras

from tf_wsoftmax.layers import MarginHead
from tf_wsoftmax.layers.traversal import all_layers
from tf_wsoftmax.losses.objective import SoftmaxCrossEntropy
from tf_wsoftmax.losses.objective import sparse_labels_from_keras


@keras.saving.register_keras_serializable(package="tf_wsoftmax")
class MarginLoss(SoftmaxCrossEntropy):
    """Cross-entropy on a margin head's training logits, for the stock `compile` / `fit`.

    The model ends in a margin head (`NormalizedDense`, `CosFaceDense`,
    `ArcFaceDense`, `LSoftmaxDense`, `SphereFaceDense`) and takes images
    only. In a training step (`fit` calls the model with `training=True`)
    the head leaves a record of the call for this loss: its output and, where
    the margin needs them (W-Softmax "stop", L-Softmax, A-Softmax), its
    features. The loss reads the record once, which clears it, and computes
    the head's training logits from the output (and the features) and the
    labels (`MarginHead.training_pass`, the function every training path
    uses; one step of the head's schedule). Any inference call of the head
    clears the record too, so nothing survives into `predict` or `evaluate`.
    In evaluation the loss is the cross-entropy of the test-time logits, the
    `loss` that `MarginClassifier.evaluate` reports too.

    A class-sampling head (Partial FC) is refused here: a Keras loss is handed
    no optimizer, so it cannot keep the unsampled columns and their momentum
    unchanged. Train it with `MarginClassifier` or `TrainStep`.

    After `keras.models.load_model` the loss is unbound (Keras rebuilds a
    compiled loss without handing it the model): load with
    `tf_wsoftmax.load_model`, which binds it.

    Keras computes the loss inside the same `GradientTape` as the forward
    pass, so gradients reach every weight the training logits depend on. The
    loss holds no variables.

    Args:
        head: the `MarginHead` whose raw output is `y_pred`. May be None when
            deserialising: `tf_wsoftmax.load_model` binds it (or call
            `loss.bind(model)`).
        reduction: Keras reduction. Defaults to "sum_over_batch_size".
        name: loss name. Defaults to "margin_loss".
        head_name: name of the head, kept in the config so that `bind` finds
            it in a loaded model. Defaults to `head.name`.
        **kwargs: other `keras.losses.Loss` arguments (e.g. dtype).

    Call arguments:
        y_true: integer class ids, shape (B,) or (B, 1).
        y_pred: the head's raw output, shape (B, K) (no layer after it).

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
        elif not isinstance(target, keras.Model):
            raise TypeError(
                f"`{type(self).__name__}` needs a `{self.head_type.__name__}` head or a model "
                f"containing one. Received: {type(target).__name__}"
            )
        else:
            candidates = [
                layer
                for layer in all_layers(target)
                if isinstance(layer, self.head_type) and (self.head_name is None or layer.name == self.head_name)
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

    def __call__(self, y_true, y_pred, sample_weight=None):
        # Before Keras' `Loss.__call__` converts `y_pred` (a new array on JAX): the
        # head recognises its own output.
        if self.head is None:
            raise RuntimeError(
                f"`{type(self).__name__}` is not bound to a head"
                + (f" (it looks for one named '{self.head_name}')" if self.head_name else "")
                + ". Pass the head to the constructor, load the model with `tf_wsoftmax.load_model` "
                "(which binds it), or call `model.loss.bind(model)`."
            )
        if y_pred.shape[-1] is not None and y_pred.shape[-1] != self.head.units:
            raise ValueError(
                f"`y_pred` has {y_pred.shape[-1]} classes but the bound head "
                f"'{self.head.name}' has units={self.head.units}; y_pred must be that "
                "head's raw output."
            )
        record = self.head.take_training_inputs(y_pred)
        if record is None:  # an inference call: the test-time cross-entropy
            return super().__call__(y_true, y_pred, sample_weight=sample_weight)
        if self.head.samples_classes:
            raise ValueError(
                f"`{self.head.name}` samples classes (sample_rate={self.head.sample_rate}), and a stock "
                f"`compile(loss={type(self).__name__}(head))` cannot keep its unsampled columns and their "
                "momentum unchanged (Keras hands a loss no optimizer). Train it with "
                "`tf_wsoftmax.training.MarginClassifier` (its compile registers the kernel with a "
                "`LazyColumnSGD`) or `TrainStep`."
            )
        head_pass = self.head.training_pass(record[0], sparse_labels_from_keras(y_true, y_pred), test_logits=y_pred)
        return super().__call__(head_pass.labels, head_pass.logits, sample_weight=sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update({"head_name": self.head_name})
        return config
