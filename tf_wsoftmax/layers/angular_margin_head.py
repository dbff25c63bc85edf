"""Shared base of the multiplicative-margin heads (L-Softmax, A-Softmax)."""

from tf_wsoftmax import ops
from tf_wsoftmax.layers.margin_head import MarginHead
from tf_wsoftmax.ops import checks


class AngularMarginHead(MarginHead):
    """A head with an integer angular margin m and the original lambda annealing.

    The training logits blend the margin target with the plain one:
    f_y = (margin target + lambda plain target) / (1 + lambda), with
    lambda = max(lambda_min, lambda_base (1 + lambda_gamma it)^-lambda_power)
    at training iteration `it`. The iteration counter is a non-trainable
    weight incremented by every training call with labels, so checkpoints
    resume the schedule. lambda_base = 0 and lambda_min = 0 give the pure
    margin.

    Args:
        units: number of classes.
        margin: integer m in {1, 2, 3, 4}.
        lambda_base, lambda_gamma, lambda_power, lambda_min: the schedule.
        **kwargs: `MarginHead` arguments.
    """

    margin_fn = None  # ops.lsoftmax_logits or ops.sphereface_logits

    def __init__(
        self,
        units,
        margin,
        lambda_base,
        lambda_gamma,
        lambda_power,
        lambda_min,
        **kwargs,
    ):
        super().__init__(units, **kwargs)
        self.margin = checks.check_integer_margin(margin)
        self.lambda_base = checks.check_non_negative(lambda_base, "lambda_base")
        self.lambda_gamma = checks.check_non_negative(lambda_gamma, "lambda_gamma")
        self.lambda_power = checks.check_non_negative(lambda_power, "lambda_power")
        self.lambda_min = checks.check_non_negative(lambda_min, "lambda_min")

    def build(self, input_shape):
        super().build(input_shape)
        self.add_step_counter()

    def current_lambda(self):
        """lambda at the current iteration (float32 scalar tensor)."""
        return ops.lsoftmax_lambda(
            self.iterations,
            base=self.lambda_base,
            gamma=self.lambda_gamma,
            power=self.lambda_power,
            lambda_min=self.lambda_min,
        )

    def margin_logits(self, inputs, labels):
        logits = type(self).margin_fn(
            inputs, self.kernel, labels, self.margin, lambda_=self.current_lambda()
        )
        self.iterations.assign_add(1)
        return logits

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "margin": self.margin,
                "lambda_base": self.lambda_base,
                "lambda_gamma": self.lambda_gamma,
                "lambda_power": self.lambda_power,
                "lambda_min": self.lambda_min,
            }
        )
        return config
