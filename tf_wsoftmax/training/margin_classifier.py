"""`MarginClassifier`: every loss of the library through `compile` / `fit`."""

import keras

from tf_wsoftmax.losses import objective as objective_lib  # the module
from tf_wsoftmax.training import column_step
from tf_wsoftmax.training.lazy_columns import register_sampled_kernels


# `compile(metrics=...)` names that mean the model's own accuracy metric.
BUILT_IN_METRICS = ("accuracy", "acc", "sparse_categorical_accuracy")


@keras.saving.register_keras_serializable(package="tf_wsoftmax")
class MarginClassifier(keras.Model):
    """A backbone, a classifier head and an optional centre loss, trained by `fit`.

    `fit(x, y)` trains through Keras' own train step, on every backend, with
    this model's `compute_loss`: the objective of
    `tf_wsoftmax.losses.objective` (the head gets the labels, so every margin
    head works, including L-Softmax and A-Softmax; a centre loss is added as
    lambda * L_center and its centres are updated once per step as a state
    update of the step, so it also runs under `tf.distribute` and
    `keras.distribution`). One head pass per step gives the training logits
    and the test-time logits that the metrics ("accuracy") see.

    Calling the model with `training=False` or None (predict, evaluate,
    export) gives the test-time logits and takes images only. With
    `training=True` (what `fit` calls) it returns
    `{"logits": test-time logits, "features": features}` for `compute_loss`.
    `evaluate` reports `loss` = the cross-entropy of the test-time logits
    (+ regularisation), the same quantity as a stock model compiled with
    `MarginLoss`.

    With a class-sampling head (Partial FC, `sample_rate` < 1) the step
    scores the sampled classes only and the training metrics are over them
    (see `tf_wsoftmax.losses.objective`). Compile it with a
    `tf_wsoftmax.training.LazyColumnSGD` (also inside the
    `LossScaleOptimizer` of a `mixed_float16` policy): compile registers the
    head's kernel, so unsampled columns and their momentum do not move.
    Another optimizer is refused. Its train step is then a column step
    (`train_step`): the optimizer receives the sampled columns' (d, W)
    gradient, not a (d, K) one.

    Compile it without a `loss` (the objective is fixed by the head).
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
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")
        self.build(backbone.input_shape)

    def build(self, input_shape):
        features = self.backbone.compute_output_shape(input_shape)
        if not self.head.built:
            self.head.build(features)
        if self.feature_loss is not None and not self.feature_loss.built:
            self.feature_loss.build(features)
        self.built = True

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, **kwargs):
        if loss is not None:
            raise ValueError(
                "`MarginClassifier` computes its own loss from its head (softmax "
                "cross-entropy on the training logits, plus the centre loss); compile "
                f"it without `loss`. Received: loss={loss}"
            )
        others = [m for m in (metrics or []) if m not in BUILT_IN_METRICS]
        if others:
            raise ValueError(
                "`MarginClassifier` reports `loss` and `accuracy` from its objective's one head pass "
                "(no (B, K) logits reach compiled metrics); compute other metrics from `predict`. "
                f"Received: metrics={metrics}"
            )
        super().compile(optimizer=optimizer, **kwargs)
        register_sampled_kernels(self.optimizer, [self.head])

    def compile_from_config(self, config):
        """Re-compiles a loaded model (same as Keras' own, through our `compile`)."""
        config = keras.saving.deserialize_keras_object(config)
        config.pop("loss", None)
        self.compile(**config)
        self.optimizer.build(self.trainable_variables)

    def call(self, inputs, training=None):
        features = self.backbone(inputs, training=training)
        if training:
            return {"features": features}  # `compute_loss` runs the head once, with the labels
        return self.head(features, training=False)  # test-time logits

    def train_step(self, *args):
        """Keras' train step; with a class-sampling head trained by `LazyColumnSGD`, a column step.

        The column step (`tf_wsoftmax.training.column_step`) is Keras' own
        step (TensorFlow's or JAX's) with the head's kernel differentiated
        and updated by its sampled rows alone (the kernel of a sampling head is
        class-major, (K, d)): the same loss, gradients of the sampled rows and
        update, without a K-sized kernel gradient.
        """
        heads = column_step.column_heads(self.optimizer, [self.head], self.trainable_variables)
        if not heads:
            return super().train_step(*args)
        if keras.backend.backend() == "jax":
            return self._jax_column_step(heads, *args)
        if keras.backend.backend() == "tensorflow":
            return self._tensorflow_column_step(heads, *args)
        return super().train_step(*args)

    def _tensorflow_column_step(self, heads, data):
        """`TensorFlowTrainer.train_step` (Keras 3) with the sampled kernels' gradients by columns."""
        import tensorflow as tf

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            with column_step.recording(heads, tape=tape) as records:
                y_pred = self(x, training=True)
                loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
            self._loss_metric().update_state(  # one replica (`column_heads`): the loss is unscaled
                loss,
                sample_weight=tf.shape(next(i for i in keras.tree.flatten(x) if i is not None))[0],
            )
            loss = self.optimizer.scale_loss(loss)
        variables = self.trainable_weights
        gradients = column_step.tensorflow_gradients(tape, loss, variables, heads, records)
        with column_step.applying(self.optimizer, heads, records):
            self.optimizer.apply_gradients(zip(gradients, variables))
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def _jax_column_step(self, heads, state, data):
        """`JAXTrainer.train_step` (Keras 3) with the sampled kernels' gradients by columns."""
        import jax

        trainable, non_trainable, optimizer_values, metrics_values = state
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        variables = self.trainable_variables
        kernels = [next(i for i, v in enumerate(variables) if v is head.kernel) for head in heads]
        others = [value for i, value in enumerate(trainable) if i not in kernels]
        batch = next(i for i in keras.tree.flatten(x) if i is not None).shape[0]
        zeros = column_step.deltas(heads, batch)

        def loss_and_updates(others, zeros):
            values = list(others)
            for i in sorted(kernels):
                values.insert(i, trainable[i])  # the kernels' values, not differentiated
            with column_step.recording(heads, deltas=zeros) as records:
                loss, aux = self.compute_loss_and_updates(
                    values, non_trainable, metrics_values, x, y, sample_weight, training=True,
                    optimizer_variables=optimizer_values,
                )
            return loss, (aux, [record.classes for record in records])

        (loss, (aux, classes)), (other_gradients, column_gradients) = jax.value_and_grad(
            loss_and_updates, argnums=(0, 1), has_aux=True
        )(others, zeros)
        unscaled_loss, y_pred, non_trainable, metrics_values = aux
        gradients, records = column_step.jax_gradients_and_records(other_gradients, kernels, column_gradients, classes)
        with column_step.applying(self.optimizer, heads, records):
            trainable, optimizer_values = self.optimizer.stateless_apply(optimizer_values, gradients, trainable)
        with keras.StatelessScope(state_mapping=list(zip(self.metrics_variables, metrics_values))) as scope:
            self._loss_metric().update_state(unscaled_loss, sample_weight=batch)
            logs = self.compute_metrics(x, y, y_pred, sample_weight)
        metrics_values = [
            variable.value if scope.get_current_value(variable) is None else scope.get_current_value(variable)
            for variable in self.metrics_variables
        ]
        return logs, (trainable, non_trainable, optimizer_values, metrics_values)

    def _loss_metric(self):
        """Keras' `loss` tracker (the first of a compiled model's `metrics`)."""
        return next(metric for metric in self.metrics if metric.name == "loss")

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The objective (`tf_wsoftmax.losses.objective`) for Keras' train and test steps.

        Also updates the model's `accuracy` metric with the per-sample
        correctness of the same head pass.

        Args:
            x: the inputs (unused: the features come from this step's forward pass).
            y: integer class ids.
            y_pred: this step's output of `call`.
            sample_weight: optional (B,) weights of the cross-entropy.
            training: whether this is a training step.

        Returns:
            The scalar loss.
        """
        features, logits = (y_pred["features"], None) if training else (None, y_pred)
        outputs = objective_lib.compute_objective(
            self.head, features, y, sample_weight, self.feature_loss, self.losses,
            training=training, test_logits=logits,
        )
        self.accuracy_tracker.update_state(outputs["correct"], sample_weight=sample_weight)
        return outputs["loss"]

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """The model's metrics: `loss` (Keras' tracker) and `accuracy` (updated in `compute_loss`)."""
        return self.get_metrics_result()

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
