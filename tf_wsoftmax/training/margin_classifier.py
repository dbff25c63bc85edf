"""`MarginClassifier`: every loss of the library through `compile` / `fit`."""

import keras
import tensorflow as tf

from tf_wsoftmax import ops
from tf_wsoftmax.layers.margin_head import in_shape_inference
from tf_wsoftmax.losses import sparse_labels_from_keras
from tf_wsoftmax.training import objective as objective_lib


def _is_tensorflow():
    return keras.backend.backend() == "tensorflow"


@keras.saving.register_keras_serializable(package="tf_wsoftmax")
class MarginClassifier(keras.Model):
    """A backbone, a classifier head and an optional centre loss, trained by `fit`.

    `fit(x, y)` runs the label-aware training path (Keras' documented way of
    customising `fit`: an overridden `train_step`): the head gets the labels,
    so every margin head works, including L-Softmax and A-Softmax, whose
    training logits need the features themselves; a centre loss is added as
    lambda * L_center and its centres are updated once per step. Calling the
    model (predict, evaluate, export) gives the test-time logits and takes
    images only.

    Compile it without a `loss` (the objective is the head's softmax
    cross-entropy); metrics such as "accuracy" see the test-time logits.
    Under `strategy.scope()` it trains with `tf.distribute` like any Keras
    model: loss terms are scaled by the global batch and centre updates are
    all-reduced across replicas.

    On TensorFlow, `fit` runs the library's own train step (`objective`,
    shared with `TrainStep`). On other Keras backends (JAX) Keras' own train
    step runs and this class supplies `compute_loss`, the same objective in
    `keras.ops`: the head's training logits from the labels, the centre term,
    and the centre update applied as a state update of the step (so it also
    runs under `keras.distribution`).
    `serving_model()` returns backbone + head alone, without the centres,
    for `export`.

    Args:
        backbone: Keras model, images -> features (its input shape must be
            known).
        head: classifier layer (a margin head or a plain `Dense`).
        feature_loss: optional `CenterLossLayer` / `ContrastiveCenterLossLayer`.
        **kwargs: `keras.Model` arguments (name).

    Example:
    >>> import numpy as np, keras
    >>> from tf_wsoftmax.layers import LSoftmaxDense, CenterLossLayer
    >>> backbone = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8)])
    >>> model = MarginClassifier(backbone, LSoftmaxDense(3, margin=2), CenterLossLayer(3))
    >>> model.compile(optimizer="sgd", metrics=["accuracy"])
    >>> x, y = np.random.randn(32, 4), np.random.randint(0, 3, 32)
    >>> _ = model.fit(x, y, epochs=1, verbose=0)
    """

    def __init__(self, backbone, head, feature_loss=None, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.head = head
        self.feature_loss = feature_loss
        self.build(backbone.input_shape)

    def build(self, input_shape):
        features = self.backbone.compute_output_shape(input_shape)
        if not self.head.built:
            self.head.build(features)
        if self.feature_loss is not None and not self.feature_loss.built:
            self.feature_loss.build(features)
        self.built = True

    def compile(self, optimizer="rmsprop", loss=None, **kwargs):
        if loss is not None:
            raise ValueError(
                "`MarginClassifier` computes its own loss from its head (softmax "
                "cross-entropy on the training logits, plus the centre loss); compile "
                f"it without `loss`. Received: loss={loss}"
            )
        super().compile(optimizer=optimizer, **kwargs)

    def compile_from_config(self, config):
        """Re-compiles a loaded model (same as Keras' own, through our `compile`)."""
        config = keras.saving.deserialize_keras_object(config)
        config.pop("loss", None)
        self.compile(**config)
        self.optimizer.build(self.trainable_variables)

    def call(self, inputs, training=None):
        features = self.backbone(inputs, training=training)
        logits = self.head(features, training=training)
        self._last_forward = (logits, features)  # for `compute_loss` (backends other than TensorFlow)
        return logits

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The objective for Keras' own train / test steps (backends other than TensorFlow).

        Training: mean cross-entropy of the head's training logits (the head
        gets the labels) + regularisation + the centre term, and the centre
        update of this step. Evaluation: cross-entropy of the test-time logits.

        Args:
            x: the inputs (unused: the features come from this step's forward pass).
            y: integer class ids.
            y_pred: this step's output of `call`.
            sample_weight: optional (B,) weights of the cross-entropy.
            training: whether this is a training step.

        Returns:
            The scalar loss.
        """
        last = getattr(self, "_last_forward", None)
        if last is None or last[0] is not y_pred:
            if in_shape_inference():  # Keras traces the loss on shapes alone before the first step
                return keras.ops.zeros((), "float32")
            raise ValueError("`y_pred` must be this model's output of the same step.")
        features = last[1]
        labels = sparse_labels_from_keras(y, y_pred)
        logits = y_pred
        if training and objective_lib.head_accepts_labels(self.head):
            logits = self.head(features, labels=labels, training=True)
        per_sample = ops.sparse_softmax_cross_entropy(labels, keras.ops.cast(logits, "float32"))
        if sample_weight is not None:
            per_sample = per_sample * keras.ops.reshape(keras.ops.cast(sample_weight, "float32"), (-1,))
        loss = keras.ops.mean(per_sample)
        if not training:
            return loss
        for regularization in self.losses:
            loss = loss + keras.ops.cast(regularization, "float32")
        if self.feature_loss is not None:
            loss = loss + self.feature_loss(features, labels)
            self.feature_loss.update(keras.ops.stop_gradient(features), labels)
        return loss

    def train_step(self, *args):
        if not _is_tensorflow():
            return super().train_step(*args)
        (data,) = args
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        labels = sparse_labels_from_keras(y, tf.zeros((tf.shape(y)[0], self.head.units)))
        replicas = objective_lib.num_replicas()
        outputs = objective_lib.train_batch(
            self.backbone, self.head, self.optimizer, x, labels, self.feature_loss, sample_weight,
            global_batch_size=tf.shape(labels)[0] * replicas,  # Keras splits batches evenly
        )
        self._loss_tracker.update_state(outputs["loss"] * replicas)
        return self.compute_metrics(x, labels, outputs["test_logits"], sample_weight)

    def test_step(self, *args):
        if not _is_tensorflow():
            return super().test_step(*args)
        (data,) = args
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        logits = self(x, training=False)
        labels = sparse_labels_from_keras(y, logits)
        loss = objective_lib.weighted_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits), sample_weight
        )
        self._loss_tracker.update_state(loss)
        return self.compute_metrics(x, labels, logits, sample_weight)

    def serving_model(self, name="classifier"):
        """Backbone + head as a functional model (no centres), for `export`."""
        inputs = keras.Input(shape=self.backbone.input_shape[1:])
        return keras.Model(inputs, self.head(self.backbone(inputs)), name=name)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "backbone": keras.saving.serialize_keras_object(self.backbone),
                "head": keras.saving.serialize_keras_object(self.head),
                "feature_loss": keras.saving.serialize_keras_object(self.feature_loss),
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("backbone", "head", "feature_loss"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
