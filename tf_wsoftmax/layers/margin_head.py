"""`MarginHead`: the shared base of the bias-free classifier heads."""

import keras


class MarginHead(keras.layers.Layer):
    """Base class of bias-free classifier heads with a label-aware training path.

    A head holds a (d, units) kernel whose column j is class j's vector. Every
    head's training logits are a function of its test-time logits, the
    features and the labels (`margin_logits_from`), so one (B, d) x (d, K)
    pass gives both: the training logits for the loss and the test-time
    logits for the metrics (`training_logits`).

    `call(inputs, labels=None, training=None)` returns the training logits
    when labels are given and `training` is true, and the test-time logits
    otherwise. A training call without labels (the forward pass of a stock
    `fit` with `MarginLoss`) also keeps its (output, features) pair until a
    `MarginLoss` takes it (`take_training_inputs`); inference calls
    (`training` false or None: `predict`, `evaluate`, serving) keep nothing.

    Schedules (W-Softmax's alpha warm-up, L-/A-Softmax's lambda) read the
    head's `iterations` weight, which counts training steps only: it moves
    once per `training_logits` call, i.e. once per optimiser step of `fit`,
    `MarginClassifier` or `TrainStep`, never in evaluation or prediction.

    The layer computes in float32 (float64 for float64 inputs or a float64
    policy) and returns float32 logits under a mixed precision policy
    (autocast is off; the kernel is the policy's variable dtype).

    Args:
        units: number of classes K (positive int).
        kernel_initializer: Defaults to "glorot_uniform" (Xavier).
        kernel_regularizer: Defaults to None.
        kernel_constraint: Defaults to None.
        **kwargs: base `keras.layers.Layer` arguments.
    """

    def __init__(
        self,
        units,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        kernel_constraint=None,
        **kwargs,
    ):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise ValueError(f"`units` must be a positive int. Received: units={units}")
        self.units = units
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)
        self._training_call = None

    def _input_dim(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                f"The last dimension of the inputs to `{type(self).__name__}` must be known. "
                f"Received input_shape={input_shape}"
            )
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: input_dim})
        return input_dim

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self._input_dim(input_shape), self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            dtype=self.variable_dtype,  # float32, also under mixed precision; float64 under a float64 policy
        )

    def add_step_counter(self):
        """Adds the non-trainable `iterations` weight: the training steps taken.

        int64 on TensorFlow; int32 on backends where 64-bit integers are off
        by default (JAX), which counts 2^31 steps. A schedule that reads it
        is saved in checkpoints and `.keras` files with the weights, so a
        resumed run resumes the schedule. Under `tf.distribute` only the
        first replica's increment counts (once per step, whatever the number
        of replicas).
        """
        self.iterations = self.add_weight(
            name="iterations",
            shape=(),
            initializer="zeros",
            dtype="int64" if keras.backend.backend() == "tensorflow" else "int32",
            trainable=False,
            aggregation="only_first_replica",
        )

    def test_logits(self, inputs):
        """Test-time logits (B, units). Implemented by subclasses."""
        raise NotImplementedError

    def margin_logits_from(self, test_logits, inputs, labels):
        """Training logits from this step's test-time logits (no state changes).

        Implemented by subclasses. Schedules read the current `iterations`.

        Args:
            test_logits: (B, units) output of `test_logits(inputs)`.
            inputs: the (B, d) features behind them.
            labels: validated int32 (B,) class ids.

        Returns:
            (B, units) training logits.
        """
        raise NotImplementedError

    def training_logits(self, inputs, labels, test_logits=None):
        """One training step's logits and the test-time logits of the same pass.

        Counts one step of the head's schedule (if it has one).

        Args:
            inputs: (B, d) features.
            labels: validated int32 (B,) class ids.
            test_logits: this step's `test_logits(inputs)`, if already
                computed (`MarginLoss` passes the model's output).

        Returns:
            (training logits, test-time logits), both (B, units).
        """
        if not self.built:
            self.build(inputs.shape)
        if test_logits is None:
            test_logits = self.test_logits(inputs)
        logits = self.margin_logits_from(test_logits, inputs, labels)
        if getattr(self, "iterations", None) is not None:
            self.iterations.assign_add(1)
        return logits, test_logits

    def take_training_inputs(self, outputs):
        """The features of the training call that returned `outputs`, and forgets that call.

        Args:
            outputs: a tensor the caller received as this head's output.

        Returns:
            The (B, d) features, or None if no training call is pending
            (`outputs` then comes from an inference call).

        Raises:
            ValueError: a training call is pending but `outputs` is not its
                output (e.g. a layer after the head changed it).
        """
        pending, self._training_call = self._training_call, None
        if pending is None:
            return None
        if pending[0] is not outputs:
            raise ValueError(
                f"`y_pred` is not the output of `{self.name}`'s latest training call. A margin "
                "loss needs the head's raw output (no layer after the head), computed in the same "
                "step (as `fit` does: `loss(y, model(x, training=True))`)."
            )
        return pending[1]

    def call(self, inputs, labels=None, training=None):
        if labels is not None and training:
            return self.training_logits(inputs, labels)[0]
        outputs = self.test_logits(inputs)
        if training:
            self._training_call = (outputs, inputs)  # for `MarginLoss` in a stock `fit`
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def compute_output_spec(self, inputs, labels=None, training=None):
        dtype = "float64" if "float64" in (keras.backend.standardize_dtype(inputs.dtype), self.variable_dtype) else "float32"
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype=dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
            }
        )
        return config
