"""Every loss's hyperparameters, declared once: name, default, bounds and help.

Plain data that imports no Keras (and nothing of this package), so a
command line can build its parser, and print `--help`, without starting a
framework. The layers take their defaults and bounds from here
(`default_of`, `Hyperparameter.check`), the registry
(`tf_wsoftmax.losses.LOSSES`) pairs each declaration with its layer
classes, and the CLI generates its loss flags from it.

Each hyperparameter name means one thing across the table; where two losses
share a name (the lambda schedule of L-Softmax and A-Softmax) it means the
same thing with a per-loss default.
"""

import dataclasses
import math
import numbers


@dataclasses.dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter of a loss.

    Args:
        name: the name in configs and flags (`--name` with dashes).
        default: the value when none is given (its type is the flag's type).
        help: one line for `--help`.
        argument: the layer constructor's argument it sets. Defaults to `name`.
        target: "head" or "feature_loss", the layer it goes to.
        low: the smallest allowed value (numbers), or None.
        high: the largest allowed value (numbers), or None.
        high_open: whether `high` itself is excluded. Defaults to False.
        low_open: whether `low` itself is excluded. Defaults to False.
        choices: the allowed values (strings, integer margins), or None.
        new_since_runs: a hyperparameter added after run folders were
            written: at its default it is left out of a run's identity, so
            a folder written before it (with the behaviour of its default)
            still resumes. Defaults to False.
    """

    name: str
    default: object
    help: str
    argument: str = None
    target: str = "head"
    low: float = None
    high: float = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple = None
    new_since_runs: bool = False

    @property
    def kind(self):
        """The Python type of the default (bool, int, float or str)."""
        return type(self.default)

    @property
    def argument_name(self):
        """The layer constructor's argument."""
        return self.argument or self.name

    def bounds_text(self):
        """The allowed values in words, e.g. "in [0, 2)" or "> 0" ("" when unbounded)."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.low is not None and self.high is not None:
            return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return ""

    def check(self, value, name=None):
        """Validates a value against the declared type and bounds.

        Args:
            value: the value.
            name: the name in the message. Defaults to `argument_name`.

        Returns:
            The value (a float for float hyperparameters, an int for ints).

        Raises:
            ValueError: a value of the wrong type or out of bounds, naming it.
        """
        name = name or self.argument_name
        problem = f"`{name}` must be {self._expected()}. Received: {name}={value!r}"
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ValueError(problem)
            return value
        if self.kind is str:
            if value not in self.choices:
                raise ValueError(problem)
            return value
        is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if self.kind is int and not (isinstance(value, numbers.Integral) and not isinstance(value, bool)):
            raise ValueError(problem)
        if not is_number or not math.isfinite(value):
            raise ValueError(problem)
        if self.choices is not None and value not in self.choices:
            raise ValueError(problem)
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            raise ValueError(problem)
        if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
            raise ValueError(problem)
        return self.kind(value)

    def _expected(self):
        kinds = {bool: "a bool", int: "an int", float: "a finite number", str: "a string"}
        bounds = self.bounds_text()
        return kinds[self.kind] + (f" {bounds}" if bounds else "")


@dataclasses.dataclass(frozen=True)
class LossDeclaration:
    """A loss of the library, as data.

    Args:
        name: registry key.
        summary: one line for `--help` and the docs.
        head: the head layer's class name (in `tf_wsoftmax.layers`, or
            "Dense" for `keras.layers.Dense`).
        hyperparameters: its `Hyperparameter`s.
        feature_loss: the centre layer's class name, or None.
        head_arguments: fixed (argument, value) pairs the head is built with,
            which the loss does not expose as hyperparameters (normalised
            softmax: the W-Softmax head with alpha 0).
    """

    name: str
    summary: str
    head: str
    hyperparameters: tuple = ()
    feature_loss: str = None
    head_arguments: tuple = ()

    def hyperparameter(self, name):
        """The declaration called `name` (a KeyError names the loss)."""
        for h in self.hyperparameters:
            if h.name == name:
                return h
        raise KeyError(f"Loss '{self.name}' has no hyperparameter '{name}'.")


def _lambda_schedule(base, gamma, power, minimum):
    return (
        Hyperparameter("lambda_base", base, "L-/A-Softmax lambda annealing: base", low=0.0),
        Hyperparameter("lambda_gamma", gamma, "L-/A-Softmax lambda annealing: gamma", low=0.0),
        Hyperparameter("lambda_power", power, "L-/A-Softmax lambda annealing: power", low=0.0),
        Hyperparameter("lambda_min", minimum, "L-/A-Softmax lambda annealing: floor", low=0.0),
    )


# The training objective of the heads (`tf_wsoftmax.ops.chunked_cross_entropy`) scores the batch in
# chunks of rows and holds at most this many logits (rows x classes per device) at a time: 2^26
# float32 logits are 256 MiB. K = 10^5 and B = 256 fit in one chunk; K = 10^6 takes four.
CHUNK_LOGITS = 2**26

_FIXED_SIMPLEX = Hyperparameter("fixed_simplex", False, "fix the class vectors to the regular simplex")
# Partial FC (An et al. 2021): the normalised heads score each training step against the batch's
# classes plus a uniform sample of the others, round(sample_rate K) in all (1: every class).
SAMPLE_RATE = Hyperparameter(
    "sample_rate", 1.0, "Partial FC: fraction of the classes each training step scores against",
    low=0.0, low_open=True, high=1.0,
)
# Partial FC's draw per block of K / sample_blocks contiguous classes (arcface_torch draws per GPU): with
# the kernel split along K over that many devices, each device's sampled rows are its own.
SAMPLE_BLOCKS = Hyperparameter(
    "sample_blocks", 1,
    "Partial FC: draw the classes per block of K / sample_blocks (the devices K is split over)", low=1,
    new_since_runs=True,
)
_MULTIPLICATIVE_MARGIN = Hyperparameter(
    "multiplicative_margin", 4, "L-/A-Softmax integer angular margin m", argument="margin", choices=(1, 2, 3, 4)
)
_SCALE = Hyperparameter("scale", 64.0, "CosFace / ArcFace logit scale s", low=0.0, low_open=True)
_CENTER_WEIGHT = Hyperparameter(
    "center_weight", 0.01, "lambda: weight of the centre loss in the objective", argument="weight",
    target="feature_loss", low=0.0,
)

LOSS_DECLARATIONS = {
    entry.name: entry
    for entry in (
        LossDeclaration("softmax", "plain Dense + softmax cross-entropy", "Dense"),
        LossDeclaration(
            "normalized_softmax", "softmax on L2-normalised, bias-free class vectors", "NormalizedDense",
            (_FIXED_SIMPLEX, SAMPLE_RATE, SAMPLE_BLOCKS), head_arguments=(("alpha", 0.0),),
        ),
        LossDeclaration(
            "wsoftmax",
            "W-Softmax (Li & Wang 2019): negatives scored with normalise(W_j + alpha W_y)",
            "NormalizedDense",
            (
                Hyperparameter("alpha", 1.0, "W-Softmax weight bias alpha", low=0.0),
                Hyperparameter(
                    "bias_gradient", "stop",
                    "W-Softmax backward pass: 'stop' (bias and norm constant) or 'full' (exact gradient)",
                    choices=("stop", "full"),
                ),
                Hyperparameter("alpha_warmup_steps", 0, "W-Softmax: softmax steps first (Algorithm 1)", low=0),
                Hyperparameter(
                    "alpha_ramp_steps", 0, "W-Softmax: steps of a linear ramp to alpha after the warm-up", low=0
                ),
                _FIXED_SIMPLEX,
                SAMPLE_RATE,
                SAMPLE_BLOCKS,
            ),
        ),
        LossDeclaration(
            "lsoftmax", "L-Softmax (Liu et al. 2016), multiplicative angular margin", "LSoftmaxDense",
            (_MULTIPLICATIVE_MARGIN,) + _lambda_schedule(1000.0, 2.5e-5, 35.0, 0.0),
        ),
        LossDeclaration(
            "sphereface", "A-Softmax / SphereFace (Liu et al. 2017): L-Softmax on normalised weights",
            "SphereFaceDense", (_MULTIPLICATIVE_MARGIN,) + _lambda_schedule(1000.0, 0.12, 1.0, 5.0),
        ),
        LossDeclaration(
            "cosface", "CosFace / LMCL (Wang et al. 2018): s (cos t_y - m)", "CosFaceDense",
            (
                _SCALE,
                Hyperparameter(
                    "cosine_margin", 0.35, "CosFace margin m", argument="margin", low=0.0, high=2.0, high_open=True
                ),
                SAMPLE_RATE,
                SAMPLE_BLOCKS,
            ),
        ),
        LossDeclaration(
            "arcface", "ArcFace (Deng et al. 2019): s cos(t_y + m)", "ArcFaceDense",
            (
                _SCALE,
                Hyperparameter(
                    "angular_margin", 0.5, "ArcFace additive angular margin m (radians)", argument="margin",
                    low=0.0, high=math.pi / 2, high_open=True,
                ),
                SAMPLE_RATE,
                SAMPLE_BLOCKS,
            ),
        ),
        LossDeclaration(
            "center", "softmax + center loss (Wen et al. 2016)", "Dense",
            (
                _CENTER_WEIGHT,
                Hyperparameter(
                    "center_rate", 0.5, "center loss: centre update rate", target="feature_loss", low=0.0, high=1.0
                ),
            ),
            "CenterLossLayer",
        ),
        LossDeclaration(
            "contrastive_center", "softmax + contrastive-center loss (Qi & Su 2017)", "Dense",
            (
                _CENTER_WEIGHT,
                Hyperparameter(
                    "delta", 1.0, "contrastive-center delta", target="feature_loss", low=0.0, low_open=True
                ),
                Hyperparameter(
                    "center_learning_rate", 0.5, "contrastive-center: the centres' own learning rate",
                    target="feature_loss", low=0.0, low_open=True,
                ),
            ),
            "ContrastiveCenterLossLayer",
        ),
    )
}


def declaration_of(loss, name):
    """The `Hyperparameter` `name` of loss `loss` (e.g. ("cosface", "scale"))."""
    return LOSS_DECLARATIONS[loss].hyperparameter(name)


def default_of(loss, name):
    """The declared default of hyperparameter `name` of loss `loss`."""
    return declaration_of(loss, name).default


def all_hyperparameters():
    """Every hyperparameter name of the table -> its declarations (one per loss that has it)."""
    table = {}
    for entry in LOSS_DECLARATIONS.values():
        for h in entry.hyperparameters:
            table.setdefault(h.name, []).append(h)
    return table
