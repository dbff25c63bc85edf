"""`MarginHead`: the shared base of the bias-free classifier heads."""

import weakref

import keras

# Every live head, so that a loss deserialised without its head can find the
# head whose latest output it is given (see `MarginHead.find_producer`).
_LIVE_HEADS = weakref.WeakSet()


def in_shape_inference():
    """True while Keras traces a function for its output shapes only (`compute_output_spec`).

    Keras builds a compiled loss that way before the first step; on JAX the
    trace runs apart from the model's call, so a loss cannot find the head
    call behind `y_pred` there, and only its output shape matters.
    """
    from keras.src.backend.common.symbolic_scope import in_symbolic_scope  # no public alias

    return in_symbolic_scope()


class MarginHead(keras.layers.Layer):
    """Base class of bias-free classifier heads with a label-aware training path.

    A head holds a (d, units) kernel whose column j is class j's vector.
    `call(inputs, labels=None, training=None)` returns the margin (training)
    logits when labels are given and `training` is true, and the test-time
    logits otherwise, so one layer serves the train step and serving.
    Subclasses implement `margin_logits(inputs, labels)` and
    `test_logits(inputs)`; those whose training logits are a function of the
    test-time output also implement `logits_from_outputs(outputs, labels)`,
    which `MarginLoss` uses inside `model.fit`.

    The layer computes in float32 (float64 for float64 inputs) and returns
    float32 logits under a mixed precision policy (autocast is off).

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
        self._last_call = None
        _LIVE_HEADS.add(self)

    @staticmethod
    def find_producer(outputs, head_type=None, name=None):
        """The live head whose latest call returned `outputs`, or None.

        Args:
            outputs: a tensor (compared by identity, so no two heads match).
            head_type: optional class the head must be an instance of.
            name: optional layer name the head must have.

        Returns:
            The head, or None.
        """
        for head in list(_LIVE_HEADS):
            last = head._last_call
            if last is not None and last[0] is outputs:
                if (head_type is None or isinstance(head, head_type)) and (name is None or head.name == name):
                    return head
        return None

    def latest_inputs(self, outputs):
        """The features behind `outputs`, if they are this head's latest output, else None."""
        last = self._last_call
        return last[1] if last is not None and last[0] is outputs else None

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
            dtype="float32",
        )

    def add_step_counter(self):
        """Adds the non-trainable `iterations` weight that training calls count.

        int64 on TensorFlow; int32 on backends where 64-bit integers are off
        by default (JAX), which counts 2^31 steps.

        A schedule that reads it (L-Softmax's lambda, W-Softmax's alpha
        warm-up) is saved in checkpoints and `.keras` files with the weights,
        so a resumed run resumes the schedule. Under `tf.distribute` only the
        first replica's increment counts.
        """
        self.iterations = self.add_weight(
            name="iterations",
            shape=(),
            initializer="zeros",
            dtype="int64" if keras.backend.backend() == "tensorflow" else "int32",
            trainable=False,
            aggregation="only_first_replica",
        )

    def margin_logits(self, inputs, labels):
        """Training logits with the loss's margin. Implemented by subclasses."""
        raise NotImplementedError

    def test_logits(self, inputs):
        """Test-time logits. Implemented by subclasses."""
        raise NotImplementedError

    def logits_from_outputs(self, outputs, labels, source=None):
        """Training logits from this head's test-time output (for `MarginLoss`).

        Args:
            outputs: (B, units) test-time output of this head.
            labels: validated int32 (B,) class ids.
            source: the object this head returned, when `outputs` is a
                converted copy of it (identifies the call; see `latest_inputs`).

        Returns:
            (B, units) training logits.
        """
        raise NotImplementedError(
            f"`{type(self).__name__}`'s training logits need the features themselves "
            "(their norm), which its (batch, classes) output does not carry. Train it with "
            "`tf_wsoftmax.training.MarginClassifier` (compile/fit) or `TrainStep`."
        )

    def call(self, inputs, labels=None, training=None):
        if labels is not None and training:
            outputs = self.margin_logits(inputs, labels)
        else:
            outputs = self.test_logits(inputs)
        # Kept for losses that start from this output (`MarginLoss`): they find
        # their head by it after loading, and W-Softmax's "stop" gradient needs
        # the features behind it.
        self._last_call = (outputs, inputs)
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def compute_output_spec(self, inputs, labels=None, training=None):
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype="float32")

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

