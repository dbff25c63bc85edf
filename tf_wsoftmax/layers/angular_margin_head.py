"""Shared base of the multiplicative-margin heads (L-Softmax, A-Softmax)."""

from tf_wsoftmax import ops
from tf_wsoftmax.declarations import declaration_of
from tf_wsoftmax.layers.margin_head import MarginHead


class AngularMarginHead(MarginHead):
    """A head with an integer angular margin m and the original lambda annealing.

    The training logits blend the margin target with the plain one:
    f_y = (margin target + lambda plain target) / (1 + lambda), with
    lambda = max(lambda_min, lambda_base (1 + lambda_gamma it)^-lambda_power)
    at training iteration `it`. The iteration counter is a non-trainable
    weight that counts training steps (`MarginHead.training_logits`), so
    checkpoints resume the schedule. lambda_base = 0 and lambda_min = 0 give the pure
    margin.

    Args:
        units: number of classes.
        margin: integer m in {1, 2, 3, 4}.
        lambda_base, lambda_gamma, lambda_power, lambda_min: the schedule.
        **kwargs: `MarginHead` arguments.
    """

    loss_name = None  # the `tf_wsoftmax.declarations` entry: "lsoftmax" or "sphereface"

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
        declared = lambda name: declaration_of(self.loss_name, name)  # noqa: E731
        self.margin = declared("multiplicative_margin").check(margin)
        self.lambda_base = declared("lambda_base").check(lambda_base)
        self.lambda_gamma = declared("lambda_gamma").check(lambda_gamma)
        self.lambda_power = declared("lambda_power").check(lambda_power)
        self.lambda_min = declared("lambda_min").check(lambda_min)

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
