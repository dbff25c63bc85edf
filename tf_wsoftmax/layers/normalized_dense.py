"""The W-Softmax head: bias-free, L2-normalised class vectors."""

import keras

from tf_wsoftmax import ops
from tf_wsoftmax import theory
from tf_wsoftmax.declarations import declaration_of
from tf_wsoftmax.declarations import default_of
from tf_wsoftmax.layers.margin_head import MarginHead
from tf_wsoftmax.ops import checks


@keras.saving.register_keras_serializable(package="tf_wsoftmax")
class NormalizedDense(MarginHead):
    """Bias-free dense classifier whose class vectors are L2-normalised.

    The W-Softmax head (Li & Wang 2019, Sec. 4). Its kernel W has shape
    (d, units) (class-major (units, d) with `sample_rate` < 1: see
    `MarginHead`); column j is class j's weight vector and is normalised to
    unit length inside `call`, so logits are ||x|| cos(theta_j). During
    training with labels, negative classes are scored with the weights-biased
    vectors W~_j = normalise(W_j + alpha W_y) (Eq. 1); at test time (no labels
    or `training=False`) the original normalised W is used.

    alpha = 0 is normalised softmax, decided when the head is made:
    `NormalizedDense(K, alpha=0.0)` (what the "normalized_softmax" registry
    entry builds) has no weight bias at all, so a training step never forms
    W-Softmax's cosines W_y . W_j (3 (B, d) x (d, K) products, not 4), and
    setting `head.alpha` > 0 on it raises. A head made with alpha > 0 is
    W-Softmax, also while its schedule holds alpha at 0 (Algorithm 1's
    softmax phase, `alpha_warmup_steps`): its steps pay the cosine product.

    Its alpha is state: a non-trainable weight of the layer (saved in
    checkpoints and `.keras` files) that a traced train step or a compiled
    `fit` reads at run time, so `head.alpha = 1.5` between steps takes effect
    at the next step (0 is allowed too). Algorithm 1 of the paper (softmax first, then
    W-Softmax) is a schedule on the layer's own step counter: the first
    `alpha_warmup_steps` training steps use alpha = 0, the next
    `alpha_ramp_steps` raise it linearly, and later steps use `alpha`. The
    counter is a weight too, so a resumed run resumes the schedule.

    `bias_gradient` chooses the backward pass (the forward value is the same):
    "stop" treats the bias alpha W_y and the norm ||W_j + alpha W_y|| as
    constants, so W_y learns only from its own positive logit and the class
    vectors stay spread (the behaviour of the paper's Fig. 5; about 1.33x the
    cost of normalised softmax); "full" is the exact gradient of Eq. 1, which
    also pushes W_y away from its own samples through every negative logit and
    lets the class vectors drift together as alpha grows (about 2x). See
    `tf_wsoftmax.ops.wsoftmax_logits_from_cosine_logits`.

    With `fixed_simplex=True` the kernel is the regular simplex of
    `tf_wsoftmax.theory.simplex_weights` (pairwise cosine -1/(K-1)) and is
    not trained; it needs d >= K - 1 feature units.

    Args:
        units: number of classes K (positive int).
        alpha: weight bias after the warm-up, a finite float >= 0. Defaults
            to 1.0 (the "wsoftmax" registry entry's and the CLI's). 0 makes
            the head normalised softmax for good (see above).
        bias_gradient: "stop" or "full". Defaults to "stop".
        alpha_warmup_steps: training steps with alpha = 0 first (Algorithm
            1's softmax phase). Defaults to 0.
        alpha_ramp_steps: steps over which alpha then rises linearly to
            `alpha` (0: switch at once). Defaults to 0.
        fixed_simplex: use a fixed, non-trainable simplex kernel. Defaults
            to False.
        kernel_initializer: Defaults to "glorot_uniform" (Xavier, as in the
            paper). Ignored with `fixed_simplex`.
        kernel_regularizer: Defaults to None.
        kernel_constraint: Defaults to None.
        **kwargs: base `keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
        inputs: features of shape (B, d).
        labels: optional integer class ids of shape (B,). Used only when
            `training` is true; each such call is one step of the alpha
            schedule (`iterations`).
        training: Python bool or None.

    Returns:
        Logits of shape (B, units), float32.

    Example:
    >>> import numpy as np, keras
    >>> head = NormalizedDense(10, alpha=1.0, alpha_warmup_steps=100)
    >>> x = np.random.randn(4, 16).astype("float32")
    >>> train_logits = head(x, labels=np.array([0, 1, 2, 3]), training=True)
    >>> float(head.current_alpha())  # still in the softmax warm-up
    0.0
    >>> test_logits = head(x)  # original normalised W
    >>> tuple(test_logits.shape)
    (4, 10)

    Reference:
        Li & Wang, "Learning Discriminative Features Via Weights-biased
        Softmax Loss", Pattern Recognition 107 (2020), Eq. 1, Algorithm 1.
    """

    supports_class_sampling = True

    def __init__(
        self,
        units,
        alpha=default_of("wsoftmax", "alpha"),
        bias_gradient=default_of("wsoftmax", "bias_gradient"),
        alpha_warmup_steps=default_of("wsoftmax", "alpha_warmup_steps"),
        alpha_ramp_steps=default_of("wsoftmax", "alpha_ramp_steps"),
        fixed_simplex=default_of("wsoftmax", "fixed_simplex"),
        **kwargs,
    ):
        super().__init__(units, **kwargs)
        self._alpha = declaration_of("wsoftmax", "alpha").check(alpha)
        # Decided here, once: alpha = 0 is normalised softmax, with no alpha weight and no cosine product.
        self.weight_bias = self._alpha > 0.0
        self.bias_gradient = ops.check_bias_gradient(bias_gradient)
        self.alpha_warmup_steps = declaration_of("wsoftmax", "alpha_warmup_steps").check(alpha_warmup_steps)
        self.alpha_ramp_steps = declaration_of("wsoftmax", "alpha_ramp_steps").check(alpha_ramp_steps)
        self.fixed_simplex = declaration_of("wsoftmax", "fixed_simplex").check(fixed_simplex)
        if fixed_simplex and units < 2:
            raise ValueError("`fixed_simplex` needs units >= 2.")

    @property
    def alpha(self):
        """The weight bias reached after the schedule (a Python float).

        Setting it validates the value and assigns the layer's alpha weight,
        which steps traced earlier read at run time. A head made with
        alpha = 0 (normalised softmax) refuses a positive value.
        """
        if getattr(self, "alpha_weight", None) is None:
            return self._alpha
        return float(keras.ops.convert_to_numpy(self.alpha_weight))

    @alpha.setter
    def alpha(self, value):
        value = declaration_of("wsoftmax", "alpha").check(value)
        if not self.weight_bias and value > 0.0:
            raise ValueError(
                f"`{self.name}` was made with alpha=0: it is normalised softmax, with no weight bias "
                "and no W_y . W_j cosine product in its training step. For W-Softmax make the head with "
                "alpha > 0 (for a softmax phase first, `alpha_warmup_steps`). Received: alpha="
                f"{value}"
            )
        self._alpha = value
        if getattr(self, "alpha_weight", None) is not None:
            self.alpha_weight.assign(self._alpha)

    def build(self, input_shape):
        if self.fixed_simplex:
            simplex = theory.simplex_weights(self.units, dim=self._input_dim(input_shape))  # (d, units)
            simplex = simplex.T if self.class_major else simplex
            self.kernel = self.add_weight(
                name="kernel",
                shape=simplex.shape,
                initializer=keras.initializers.Constant(simplex),
                trainable=False,
                dtype=self.variable_dtype,
            )
        else:
            super().build(input_shape)
        if self.weight_bias:
            self.alpha_weight = self.add_weight(
                name="alpha",
                shape=(),
                initializer=keras.initializers.Constant(self._alpha),
                dtype=self.variable_dtype,
                trainable=False,
                aggregation="only_first_replica",
            )
        self.add_step_counter()
        if self.samples_classes:
            self.add_class_sampler()

    def normalized_kernel(self):
        """Returns the (d, units) kernel with unit-norm columns (float32)."""
        return ops.normalize_kernel(self.class_vectors())

    def current_alpha(self):
        """The alpha the next training step uses: `alpha` times the schedule's factor.

        Returns:
            float32 scalar tensor (0 for a head made with alpha = 0).
        """
        if not self.weight_bias:
            return keras.ops.zeros((), "float32")
        alpha = keras.ops.convert_to_tensor(self.alpha_weight)
        if not self.alpha_warmup_steps and not self.alpha_ramp_steps:
            return alpha
        past_warmup = keras.ops.cast(self.iterations, "float32") - float(self.alpha_warmup_steps)
        if self.alpha_ramp_steps:
            factor = keras.ops.clip((past_warmup + 1.0) / float(self.alpha_ramp_steps), 0.0, 1.0)
        else:
            factor = keras.ops.cast(past_warmup >= 0.0, "float32")
        return alpha * factor

    @property
    def margin_needs_features(self):
        """Only "stop" needs the features: its term alpha x . W_y passes its gradient to x alone.

        The forward value and the "full" gradient follow from the test-time
        logits z = x . W and the cosines W_y . W_j (Eq. 1, see
        `ops.wsoftmax_logits_from_cosine_logits`). Normalised softmax (made
        with alpha = 0) has no margin.
        """
        return self.weight_bias and self.bias_gradient == "stop"

    def logits_with(self, inputs, kernel):
        return ops.normalized_logits(inputs, kernel)

    def scoring(self):
        """Normalised class vectors; with a weight bias, Eq. 1 at the schedule's current alpha."""
        return ops.Scoring(
            normalize_kernel=True,
            alpha=self.current_alpha() if self.weight_bias else None,
            bias_gradient=self.bias_gradient,
            kernel_gradient=self.kernel.trainable,
        )

    def margin_logits_from(self, test_logits, inputs, labels, kernel=None):
        """Eq. 1 from the test-time logits z = x . W (unit W) and the cosines W_y . W_j.

        See `ops.wsoftmax_logits_from_cosine_logits`; alpha is the schedule's
        current value (`current_alpha`). The cosines are computed at alpha = 0
        too when the head has a weight bias: alpha is state a traced step
        reads at run time. A head made with alpha = 0 returns the test-time
        logits. With class sampling, `kernel` holds the sampled columns, so
        the negatives j and the cosines W_y . W_j run over the sampled
        classes only.
        """
        if not self.weight_bias:
            return checks.mark_invalid_labels(test_logits, labels, checks.num_classes_of(test_logits, -1))
        kernel = self.class_vectors() if kernel is None else keras.ops.convert_to_tensor(kernel)
        unit_kernel = keras.ops.cast(ops.normalize_kernel(kernel), test_logits.dtype)
        features = None if inputs is None else keras.ops.cast(inputs, test_logits.dtype)
        logits = ops.wsoftmax_logits_from_cosine_logits(
            test_logits, unit_kernel, labels, self.current_alpha(), self.bias_gradient, features
        )
        return checks.mark_invalid_labels(logits, labels, checks.num_classes_of(test_logits, -1))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "alpha": self.alpha,
                "bias_gradient": self.bias_gradient,
                "alpha_warmup_steps": self.alpha_warmup_steps,
                "alpha_ramp_steps": self.alpha_ramp_steps,
                "fixed_simplex": self.fixed_simplex,
            }
        )
        return config
