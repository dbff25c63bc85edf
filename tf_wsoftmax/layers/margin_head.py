"""`MarginHead`: the shared base of the bias-free classifier heads."""

import collections
import random

import keras

from tf_wsoftmax import ops
from tf_wsoftmax.declarations import SAMPLE_BLOCKS
from tf_wsoftmax.declarations import SAMPLE_RATE
from tf_wsoftmax.ops import _backend
from tf_wsoftmax.ops import checks

TrainingPass = collections.namedtuple("TrainingPass", ["logits", "test_logits", "labels", "regularization"])
TrainingPass.__doc__ = """One training step of a head (`MarginHead.training_pass`).

Fields:
    logits: (B, W) training logits (W = K, or the sampled classes' count).
    test_logits: (B, W) test-time logits of the same columns.
    labels: int32 (B,) labels of those columns (the class ids, or their
        positions among the sampled classes).
    regularization: the kernel penalty of the sampled columns (a scalar), or
        None when the penalty is the kernel variable's own (no sampling).
"""

TrainingLoss = collections.namedtuple("TrainingLoss", ["per_sample", "correct", "regularization", "cross_entropy"])
TrainingLoss.__doc__ = """One training step of a head, scored (`MarginHead.training_loss`).

What a training step hands the objective and the metrics: no (B, K) matrix.

Fields:
    per_sample: (B,) softmax cross-entropy of the training logits (float32,
        float64 for float64 models). Values: differentiate `cross_entropy`.
    correct: (B,) float32, 1 where the test-time logits' arg max is the label
        (with class sampling: among the sampled classes), else 0.
    regularization: as `TrainingPass.regularization`.
    cross_entropy: sum_i r_i per_sample_i for the row weights r the step was
        given (the objective's reduction: sample weight / B), a scalar that
        carries the gradient. The chunked objective forms the kernel gradient
        in its forward pass, which needs r there: per-sample values alone
        cannot carry it.
"""


def score_logits(logits, labels, regularization=None, test_logits=None, row_weights=None):
    """A `TrainingLoss` from (B, W) logits: per-sample cross-entropy and arg-max correctness.

    Args:
        logits: (B, W) logits the cross-entropy is taken of.
        labels: validated int32 (B,) positions in [0, W).
        regularization: passed through (see `TrainingLoss`).
        test_logits: (B, W) logits whose arg max is scored. Defaults to `logits`.
        row_weights: (B,) weights of the per-sample values in `cross_entropy`.
            Defaults to 1 / B each (the mean).

    Returns:
        A `TrainingLoss`.
    """
    test_logits = logits if test_logits is None else test_logits
    per_sample = ops.sparse_softmax_cross_entropy(labels, keras.ops.cast(logits, checks.compute_dtype(logits)))
    predictions = keras.ops.cast(keras.ops.argmax(test_logits, axis=-1), "int32")
    correct = keras.ops.cast(keras.ops.equal(predictions, labels), "float32")
    row_weights = mean_weights(per_sample) if row_weights is None else row_weights
    cross_entropy = keras.ops.sum(keras.ops.cast(row_weights, per_sample.dtype) * per_sample)
    return TrainingLoss(per_sample, correct, regularization, cross_entropy)


class SampledRows:
    """A class-sampling head's drawn class vectors in one training step, for a step that updates them alone.

    A class-sampling head stores its kernel class-major, (K, d)
    (`MarginHead.class_major`), so the W classes a step draws are W
    contiguous rows. A train step that differentiates with respect to those
    rows rather than the whole kernel (`tf_wsoftmax.training.column_step`)
    hands one of these to the head (`MarginHead.sampled_columns`) for the
    step's objective. The head then gathers the rows with no gradient path
    to the kernel and records them here: `rows` (W, d), the tensor to
    differentiate (TensorFlow: `watch` is the tape's, called on it), or
    `delta`, a (W, d) zero added to the gathered rows that a JAX step
    differentiates instead; `classes`, the (W,) class ids they are. The
    numbers are those of the usual step: the same gather, the same
    objective, and the rows' gradient is the kernel gradient's sampled
    rows (every other row's is exactly zero).

    Args:
        delta: a (W, d) zero tensor added to the rows, or None.
        watch: a callable on the gathered (W, d) tensor (`tape.watch`), or None.
    """

    def __init__(self, delta=None, watch=None):
        self.delta = delta
        self.watch = watch
        self.classes = None
        self.rows = None

    def take(self, kernel, classes):
        """The (W, d) rows `classes` of a (K, d) `kernel` (no gradient to `kernel`), recorded."""
        rows = _backend.gather_rows(keras.ops.stop_gradient(kernel), classes)
        if self.delta is not None:
            rows = rows + keras.ops.cast(self.delta, rows.dtype)
        if self.watch is not None:
            self.watch(rows)
        self.classes, self.rows = classes, rows
        return rows


class _Transposed:
    """An initializer or constraint of a (d, units) kernel, applied to a class-major (units, d) one.

    Args:
        function: the initializer (called with a shape and a dtype) or the
            constraint (called with the kernel) of the (d, units) layout.
    """

    def __init__(self, function):
        self.function = function

    def __call__(self, value_or_shape, dtype=None):
        if isinstance(value_or_shape, (tuple, list)):  # an initializer's shape
            return keras.ops.transpose(self.function(tuple(value_or_shape)[::-1], dtype))
        return keras.ops.transpose(self.function(keras.ops.transpose(value_or_shape)))


def layout_mismatch(head, where, shape):
    """The message for a stored kernel of `shape` that does not fit `head`'s kernel.

    Args:
        head: a built `MarginHead`.
        where: what holds the stored kernel (a file, a weight), for the message.
        shape: the stored kernel's shape.

    Returns:
        A message naming both shapes and, for a (d, units) kernel of a
        class-major head, the layout change.
    """
    expected, shape = tuple(head.kernel.shape), tuple(shape)
    hint = ""
    if head.class_major and shape == expected[::-1]:
        hint = (
            " The head samples classes (sample_rate < 1) and stores its kernel class-major, (units, d); the "
            "stored one is (d, units), as a head at rate 1 (or a tf_wsoftmax before the class-major layout) "
            "stores it: restore it into a head with sample_rate=1 and assign its `class_vectors()`, transposed."
        )
    return f"{where} has shape {shape}, expected {expected}.{hint}"


def kernel_shards(kernel, class_axis=-1):
    """(devices a kernel's class axis is split over, devices the batch is split over).

    Read from the `keras.distribution` in force (JAX); (1, 1) without one.

    Args:
        kernel: the class matrix variable.
        class_axis: its axis of the K classes: -1 for a (d, K) kernel
            (Keras' `Dense`, heads at rate 1), 0 for a class-major (K, d) one.
    """
    distribution = keras.distribution.distribution() if keras.backend.backend() == "jax" else None
    if distribution is None:
        return 1, 1
    layout = distribution.get_variable_layout(kernel)
    mesh = layout.device_mesh
    names = list(mesh.axis_names)
    axis = layout.axes[class_axis]
    model_shards = 1 if axis is None else mesh.shape[names.index(axis)]
    batch_axis = getattr(distribution, "batch_dim_name", None)
    return model_shards, mesh.shape[names.index(batch_axis)] if batch_axis in names else 1


def mean_weights(batch_like):
    """(B,) weights 1 / B (float32, float64 for float64 tensors): the row weights of a batch mean."""
    ones = keras.ops.ones_like(batch_like[:, 0] if len(batch_like.shape) > 1 else batch_like, checks.compute_dtype(batch_like))
    return ones / keras.ops.cast(keras.ops.shape(ones)[0], ones.dtype)


class MarginHead(keras.layers.Layer):
    """Base class of bias-free classifier heads with a label-aware training path.

    A head holds a (d, units) kernel whose column j is class j's vector
    (Keras' `Dense` layout); a head that samples classes (`sample_rate` < 1)
    stores it class-major instead, (units, d), row j class j's vector
    (`class_major`, as InsightFace's Partial FC does), so that a step's
    sampled classes are contiguous rows. `class_vectors()` is the (d, units)
    view either way. A training step (`training_loss`, what `MarginClassifier` and `TrainStep`
    train with) scores the batch without a (B, K) matrix: the head describes
    its logits (`scoring`, an `ops.Scoring`) and `ops.chunked_cross_entropy`
    takes them a few rows at a time, with the gradient formed in the same
    pass and the metrics' correctness from the same products. For the stock
    `compile(loss=MarginLoss(head))` path, whose model output is the (B, K)
    test-time logits, every head's training logits are also a function of
    its test-time logits, the features and the labels (`margin_logits_from`,
    `training_pass`).

    `call(inputs, labels=None, training=None)` returns the training logits
    when labels are given and `training` is true, and the test-time logits
    otherwise. A training call without labels (the forward pass of a stock
    `fit` with `MarginLoss`) leaves a record for the loss of the same step:
    its output and, where the margin needs them (`margin_needs_features`),
    its features. The loss reads it once and clears it
    (`take_training_inputs`), and every inference call (`training` false or
    None: `predict`, `evaluate`, serving) clears it, so nothing survives into
    another step. A Keras `Loss` receives only `(y_true, y_pred)`: this record
    is how it learns that `y_pred` comes from a training call, and the
    features that the margin of some heads needs beside the logits.

    Partial FC (An et al., ICCVW 2021): with `sample_rate` < 1 (heads with
    `supports_class_sampling`) each training step scores the features only
    against the batch's classes plus classes drawn uniformly without
    replacement, round(sample_rate K) in all (at least the batch's distinct
    classes; `tf_wsoftmax.ops.sample_classes`), and the labels become
    positions among them (`training_pass`). The draw of a step is a
    counter-based random function of two weights, the seed and the step
    count `iterations` (`add_class_sampler`), so checkpoints, `save_weights`
    and `.keras` files carry the generator's state and a resumed run draws
    the same classes. (A `keras.random.SeedGenerator`'s state is not among a
    layer's weights, so `save_weights` would not keep it.) The kernel is
    class-major (see above): the step gathers its W classes as rows, and its
    initializer, regularizer and constraint see the (d, units) view, so a
    seed initialises the same class vectors at every rate. The kernel penalty (`kernel_regularizer`) then covers the
    sampled columns only and is returned by `training_pass` (it is not
    attached to the variable), so an unsampled column gets an exactly zero
    gradient; `tf_wsoftmax.training.LazyColumnSGD` leaves such columns and
    their momentum unchanged. Test-time logits use all K classes.

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
        sample_rate: Partial FC's fraction of the classes scored per
            training step, in (0, 1]. Defaults to 1.0 (every class).
        sample_seed: int seed in [0, 2^31) of the class draws, or None: one
            drawn from Python's `random` (which `keras.utils.set_random_seed`
            seeds). It initialises the `sample_seed` weight, which loaded
            weights replace. Defaults to None.
        sample_blocks: S, a divisor of `units`: the draw is made per block
            of units / S contiguous classes, round(sample_rate units / S)
            from each (`tf_wsoftmax.ops.sample_classes`), as arcface_torch
            draws per GPU. Under a `keras.distribution` that splits the
            kernel along K over S devices (or a divisor of S), each device
            then gathers, scores and updates only rows it holds, so the
            per-device memory of a step falls with the rate; with S = 1 (one
            global draw) the sampled rows are whole on every device
            (docs/scale.md). The draw depends on S, not on the devices: a
            run with S blocks draws the same classes on one device and on
            many. Only with `sample_rate` < 1. Defaults to 1.
        **kwargs: base `keras.layers.Layer` arguments.
    """

    # Heads whose margin needs no column beyond the scored ones; their `build` calls
    # `add_class_sampler` when they sample.
    supports_class_sampling = False

    def __init__(
        self,
        units,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        kernel_constraint=None,
        sample_rate=SAMPLE_RATE.default,
        sample_seed=None,
        sample_blocks=SAMPLE_BLOCKS.default,
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
        self._pending_training_call = None
        self.sample_rate = SAMPLE_RATE.check(sample_rate)
        if sample_seed is not None and (
            not isinstance(sample_seed, int) or isinstance(sample_seed, bool) or not 0 <= sample_seed < 2**31
        ):
            raise ValueError(f"`sample_seed` must be an int in [0, 2^31) or None. Received: sample_seed={sample_seed!r}")
        self.sample_seed = sample_seed
        self.sample_blocks = SAMPLE_BLOCKS.check(sample_blocks)
        if self.sample_blocks != 1 and (not self.samples_classes or units % self.sample_blocks):
            raise ValueError(
                "`sample_blocks` must divide `units` and needs class sampling (sample_rate < 1). Received: "
                f"sample_blocks={sample_blocks}, units={units}, sample_rate={sample_rate}"
            )
        if self.samples_classes:
            if not self.supports_class_sampling:
                raise ValueError(
                    f"`{type(self).__name__}` does not support class sampling (its margin is not a function "
                    f"of the scored columns alone); use sample_rate=1. Received: sample_rate={sample_rate}"
                )
            self.num_sampled = ops.num_sampled_classes(self.sample_rate, units, self.sample_blocks)
            self._resolved_seed = random.randint(0, 2**31 - 1) if sample_seed is None else sample_seed

    @property
    def samples_classes(self):
        """Whether training steps score a sample of the classes (`sample_rate` < 1)."""
        return self.sample_rate < 1.0

    @property
    def margin_needs_features(self):
        """Whether `margin_logits_from` needs the features beside the test-time logits.

        True unless a subclass says otherwise (the additive heads' margin is a
        function of the cosines alone; W-Softmax "full" of the logits and the
        kernel alone). A stock `fit` keeps the features of a training call
        for its loss only when this is True.
        """
        return True

    def _input_dim(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                f"The last dimension of the inputs to `{type(self).__name__}` must be known. "
                f"Received input_shape={input_shape}"
            )
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: input_dim})
        return input_dim

    @property
    def class_major(self):
        """Whether the kernel is stored (units, d), one class per row: the heads that sample classes."""
        return self.samples_classes

    @property
    def class_axis(self):
        """The kernel's axis of the classes: 0 when `class_major`, else 1."""
        return 0 if self.class_major else 1

    def kernel_shape(self, input_dim):
        """The kernel variable's shape: (units, d) when `class_major`, else (d, units)."""
        return (self.units, input_dim) if self.class_major else (input_dim, self.units)

    def class_vectors(self, kernel=None):
        """The (d, units) class vectors, column j class j's: what test-time logits, evaluation and export read.

        Args:
            kernel: a tensor of the kernel's shape. Defaults to None: the
                head's kernel.

        Returns:
            The kernel itself, or the transpose of a class-major one.
        """
        kernel = keras.ops.convert_to_tensor(self.kernel if kernel is None else kernel)
        return keras.ops.transpose(kernel) if self.class_major else kernel

    def build(self, input_shape):
        input_dim = self._input_dim(input_shape)
        initializer, constraint = self.kernel_initializer, self.kernel_constraint
        if self.class_major:  # both see the (d, units) view: a seed gives the same class vectors at every rate
            initializer = _Transposed(initializer)
            constraint = None if constraint is None else _Transposed(constraint)
        self.kernel = self.add_weight(
            name="kernel",
            shape=self.kernel_shape(input_dim),
            initializer=initializer,
            # Sampling: the penalty of the sampled columns comes with each `training_pass`.
            regularizer=None if self.samples_classes else self.kernel_regularizer,
            constraint=constraint,
            dtype=self.variable_dtype,  # float32, also under mixed precision; float64 under a float64 policy
        )

    def load_own_variables(self, store):
        """Keras' loading of the weights, refusing a kernel of the other layout with the shapes named."""
        order = self._trainable_variables + self._non_trainable_variables  # Keras' order of `store`
        index = next((i for i, variable in enumerate(order) if variable is getattr(self, "kernel", None)), None)
        stored = store[f"{index}"] if index is not None and f"{index}" in store else None
        if stored is not None and tuple(stored.shape) != tuple(self.kernel.shape):
            raise ValueError(layout_mismatch(self, f"`{self.name}`'s kernel", stored.shape))
        super().load_own_variables(store)

    def add_step_counter(self):
        """Adds the non-trainable `iterations` weight: the training steps taken.

        int64 on TensorFlow; int32 on backends where 64-bit integers are off
        by default (JAX), which counts 2^31 steps. A schedule that reads it
        is saved in checkpoints and `.keras` files with the weights, so a
        resumed run resumes the schedule. Under `tf.distribute` only the
        first replica's increment counts (once per step, whatever the number
        of replicas). Adding it twice adds one.
        """
        if getattr(self, "iterations", None) is not None:
            return
        self.iterations = self.add_weight(
            name="iterations",
            shape=(),
            initializer="zeros",
            dtype="int64" if keras.backend.backend() == "tensorflow" else "int32",
            trainable=False,
            aggregation="only_first_replica",
        )

    def logits_with(self, inputs, kernel):
        """Test-time logits (B, n) against the (d, n) class vectors `kernel`. Implemented by subclasses."""
        raise NotImplementedError

    def add_class_sampler(self):
        """Adds the state of the class draws (with `sample_rate` < 1): `iterations` and `sample_seed`.

        The draw of a step is a function of the two (`ops.sample_classes`),
        both weights, so `save_weights`, checkpoints and `.keras` files keep
        the generator where it was. Subclasses that sample call it in `build`.
        """
        self.add_step_counter()
        self.sample_seed_weight = self.add_weight(
            name="sample_seed",
            shape=(),
            initializer=keras.initializers.Constant(self._resolved_seed),
            dtype="int32",
            trainable=False,
            aggregation="only_first_replica",
        )

    def test_logits(self, inputs):
        """Test-time logits (B, units) over every class."""
        return self.logits_with(inputs, self.class_vectors())

    def margin_logits_from(self, test_logits, inputs, labels, kernel=None):
        """Training logits from this step's test-time logits (no state changes).

        Implemented by subclasses. Schedules read the current `iterations`.

        Args:
            test_logits: (B, n) output of `logits_with(inputs, kernel)`.
            inputs: the (B, d) features behind them.
            labels: validated int32 (B,) positions in [0, n).
            kernel: the (d, n) class vectors behind them. Defaults to None:
                the whole kernel (n = units).

        Returns:
            (B, n) training logits.
        """
        raise NotImplementedError

    def training_pass(self, inputs, labels, test_logits=None):
        """One training step of the head: its logits, labels and (with sampling) kernel penalty.

        Counts one step of the head's schedule (if it has one) and, with
        `sample_rate` < 1, draws this step's classes (a function of
        `sample_seed` and `iterations`) and scores only those.

        Args:
            inputs: (B, d) features.
            labels: validated int32 (B,) class ids (of the global batch
                when the step is one global computation, as on JAX with
                `keras.distribution`).
            test_logits: this step's `test_logits(inputs)` (B, units), if
                already computed (`MarginLoss` passes the model's output).

        Returns:
            A `TrainingPass`.
        """
        if not self.built:
            self.build(inputs.shape)
        if self.samples_classes:
            result = self._sampled_pass(inputs, labels, test_logits)
        else:
            if test_logits is None:
                test_logits = self.test_logits(inputs)
            result = TrainingPass(self.margin_logits_from(test_logits, inputs, labels), test_logits, labels, None)
        if getattr(self, "iterations", None) is not None:
            self.iterations.assign_add(1)
        return result

    def scoring(self):
        """This step's logits as `ops.chunked_cross_entropy` forms them (an `ops.Scoring`).

        Implemented by subclasses; reads the schedules' current values (alpha,
        lambda), so call it before the step counter moves.
        """
        raise NotImplementedError

    def training_loss(self, inputs, labels, row_weights=None):
        """One training step of the head, scored, without a (B, K) matrix.

        What every training path of `tf_wsoftmax.losses.compute_objective`
        uses (`MarginClassifier`, `TrainStep`): `ops.chunked_cross_entropy`
        over the head's `scoring`, a few rows at a time, with the gradient
        formed in the same pass, and the correctness of the test-time arg max
        from the same products (no second head pass for the metrics). Counts
        one step of the head's schedule and, with class sampling, draws this
        step's classes and scores only those.

        Args:
            inputs: (B, d) features.
            labels: validated int32 (B,) class ids.
            row_weights: (B,) weights of the per-sample cross-entropies in the
                objective (`TrainingLoss.cross_entropy`). Defaults to 1 / B
                each.

        Returns:
            A `TrainingLoss`.
        """
        if not self.built:
            self.build(inputs.shape)
        inputs = keras.ops.convert_to_tensor(inputs)
        row_weights = mean_weights(inputs) if row_weights is None else row_weights
        kernel = keras.ops.convert_to_tensor(self.kernel)
        scored_labels, mask, regularization = labels, None, None
        if self.samples_classes:
            classes, sampled_labels, mask = self._draw(labels)
            kernel = self._sampled_rows(kernel, classes)  # (W, d): the objective takes them class-major
            # A label outside [0, K) (unchecked inside a compiled step) stays invalid among the sampled.
            scored_labels = keras.ops.where(checks.label_errors(labels, self.units), -1, sampled_labels)
            regularization = self._sampled_penalty(keras.ops.transpose(kernel), mask)
        model_shards, data_shards = self._shards()
        result = ops.chunked_cross_entropy(
            inputs, kernel, scored_labels, row_weights, self.scoring(), column_mask=mask,
            model_shards=model_shards, data_shards=data_shards, class_major=self.samples_classes,
        )
        if getattr(self, "iterations", None) is not None:
            self.iterations.assign_add(1)
        return TrainingLoss(result.per_sample, result.correct, regularization, result.loss)

    def sampled_width(self, batch):
        """W: the number of columns a training step of `batch` samples scores (static; `ops.sample_classes`)."""
        blocks = self.sample_blocks
        return blocks * min(self.units // blocks, max(self.num_sampled // blocks, batch))

    def sampled_columns(self, record):
        """Hands the next training steps' objective a `SampledRows` (None: back to the kernel).

        Used by the column steps of `tf_wsoftmax.training.column_step`, which
        set it around one step's objective.
        """
        self._step_columns = record

    def _draw(self, labels):
        """This step's sampled classes (`ops.sample_classes` of the seed and the step counter)."""
        return ops.sample_classes(
            labels, self.units, self.num_sampled, self.sample_seed_weight, self.iterations, self.sample_blocks
        )

    def _sampled_rows(self, kernel, classes):
        """The (W, d) rows of the class-major kernel of the drawn `classes`.

        In a column step (`sampled_columns` was handed a `SampledRows`) the
        rows are gathered with no gradient path to the kernel and recorded,
        for the step to differentiate; otherwise the gradient reaches the
        kernel through the gather.
        """
        if self.sample_blocks > 1:  # each block's rows gathered from its own (`_backend.gather_rows`)
            classes = keras.ops.reshape(classes, (self.sample_blocks, -1))
        record = getattr(self, "_step_columns", None)
        rows = _backend.gather_rows(kernel, classes) if record is None else record.take(kernel, classes)
        return self._laid_out_like_kernel(rows)

    def _sampled_penalty(self, columns, valid):
        """The kernel penalty of the sampled (d, W) columns (padding excluded), or None."""
        if self.kernel_regularizer is None:
            return None
        if valid is not None:
            columns = keras.ops.where(valid[None, :], columns, keras.ops.zeros_like(columns))
        return self.kernel_regularizer(columns)

    def _sampled_pass(self, inputs, labels, test_logits):
        classes, sampled_labels, valid = self._draw(labels)
        kernel = keras.ops.transpose(self._sampled_rows(keras.ops.convert_to_tensor(self.kernel), classes))  # (d, W)
        if test_logits is None:
            test_logits = self.logits_with(inputs, kernel)
        else:
            test_logits = _backend.take_columns(test_logits, classes)
        logits = self.margin_logits_from(test_logits, inputs, sampled_labels, kernel)
        logits = checks.mark_invalid_labels(ops.mask_padding(logits, valid), labels, self.units)
        regularization = self._sampled_penalty(kernel, valid)
        return TrainingPass(logits, ops.mask_padding(test_logits, valid), sampled_labels, regularization)

    def _kernel_layout(self):
        """The kernel's `keras.distribution` layout and its number of shards along K ((None, 1) without one)."""
        distribution = keras.distribution.distribution() if keras.backend.backend() == "jax" else None
        if distribution is None or not self.built:
            return None, 1
        layout = distribution.get_variable_layout(self.kernel)
        axis = layout.axes[self.class_axis]
        mesh = layout.device_mesh
        return layout, 1 if axis is None else mesh.shape[list(mesh.axis_names).index(axis)]

    def _shards(self):
        """(devices the kernel's K axis is split over, devices the batch is split over) under `keras.distribution`."""
        return kernel_shards(self.kernel, self.class_axis)

    def _laid_out_like_kernel(self, rows):
        """The (W, d) sampled rows, split along W as the class-major kernel is along K under `keras.distribution`.

        Without it XLA's partitioner keeps the gathered columns, and with them the (B, W) logits,
        whole on every device (at K = 10^6, rate 0.3, 8 model shards: 3.6 instead of 1.9 GiB
        per device; docs/scale.md).
        """
        layout, shards = self._kernel_layout()
        if shards == 1 or rows.shape[0] % shards:
            return rows  # an uneven split of W gave NaN on JAX 0.10 (8 virtual CPU devices): left whole
        return keras.distribution.distribute_tensor(rows, layout)

    def detached_regularization(self):
        """The whole kernel's penalty when sampling keeps it off the variable (for evaluation), else None."""
        if self.samples_classes and self.kernel_regularizer is not None and self.built:
            return self.kernel_regularizer(self.class_vectors())
        return None

    def training_logits(self, inputs, labels, test_logits=None):
        """One training step's logits and the test-time logits of the same pass (every class).

        `training_pass` without class sampling; counts one step of the
        head's schedule (if it has one).

        Args:
            inputs: (B, d) features.
            labels: validated int32 (B,) class ids.
            test_logits: this step's `test_logits(inputs)`, if already
                computed.

        Returns:
            (training logits, test-time logits), both (B, units).

        Raises:
            ValueError: the head samples classes (its logits are over the
                sampled classes, with labels of their own: `training_pass`).
        """
        if self.samples_classes:
            raise ValueError(
                f"`{self.name}` samples classes (sample_rate={self.sample_rate}): its training logits are "
                "over the sampled classes, with their own labels. Use `training_pass` (or train through "
                "`compute_objective`, `MarginClassifier`, `MarginLoss` or `TrainStep`)."
            )
        result = self.training_pass(inputs, labels, test_logits)
        return result.logits, result.test_logits

    def take_training_inputs(self, outputs):
        """Reads and clears the record of the training call that returned `outputs`.

        Args:
            outputs: a tensor the caller received as this head's output.

        Returns:
            None when no training call is pending (`outputs` then comes from an
            inference call); else `(features,)`: the call's (B, d) features, or
            None in their place when the margin does not need them
            (`margin_needs_features`).

        Raises:
            ValueError: a training call is pending but `outputs` is not its
                output (e.g. a layer after the head changed it).
        """
        pending, self._pending_training_call = self._pending_training_call, None
        if pending is None:
            return None
        if pending[0] is not outputs:
            raise ValueError(
                f"`y_pred` is not the output of `{self.name}`'s latest training call. A margin "
                "loss needs the head's raw output (no layer after the head), computed in the same "
                "step (as `fit` does: `loss(y, model(x, training=True))`)."
            )
        return (pending[1],)

    def call(self, inputs, labels=None, training=None):
        if labels is not None and training:
            self._pending_training_call = None
            return self.training_logits(inputs, labels)[0]
        outputs = self.test_logits(inputs)
        # A training call's record is for the loss of the same step; an inference call clears it.
        self._pending_training_call = (
            (outputs, inputs if self.margin_needs_features else None) if training else None
        )
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
                "sample_rate": self.sample_rate,
                "sample_seed": self.sample_seed,
                "sample_blocks": self.sample_blocks,
            }
        )
        return config
