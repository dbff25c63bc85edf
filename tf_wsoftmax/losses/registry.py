"""The one table of the library's losses: name -> head, centre layer and hyperparameters.

Every tool that builds a loss by name (the CLI, the experiment runner, the
sweeps, the face pipeline, `bench step`) goes through `build_loss`, and the
CLI's flags are generated from the `Hyperparameter` declarations here, so a
new loss is one `LossEntry`. Each hyperparameter name means one thing across
the whole table; where two losses share a name (the lambda schedule of
L-Softmax and A-Softmax) it means the same thing with a per-loss default.
"""

import dataclasses

import keras

from tf_wsoftmax import layers


@dataclasses.dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter of a loss.

    Args:
        name: the name in configs and flags (`--name` with dashes).
        default: the value when none is given.
        help: one line for `--help`.
        argument: the layer constructor's argument it sets. Defaults to `name`.
        target: "head" or "feature_loss", the layer it goes to.
    """

    name: str
    default: object
    help: str
    argument: str = None
    target: str = "head"

    @property
    def kind(self):
        """The Python type of the default (bool, int, float or str)."""
        return type(self.default)


@dataclasses.dataclass(frozen=True)
class LossEntry:
    """A loss of the library.

    Args:
        name: registry key.
        summary: one line for `--help` and the docs.
        head: callable (num_classes, name, **head arguments) -> the head layer.
        hyperparameters: its `Hyperparameter`s.
        feature_loss: optional callable (num_classes, **arguments) -> the
            centre layer added to the objective.
    """

    name: str
    summary: str
    head: object
    hyperparameters: tuple = ()
    feature_loss: object = None

    def resolve(self, values):
        """Fills defaults and refuses names this loss does not have.

        Args:
            values: mapping name -> value (a subset of the hyperparameters).

        Returns:
            dict name -> value for every hyperparameter of the loss.
        """
        known = {h.name: h for h in self.hyperparameters}
        unknown = sorted(set(values) - set(known))
        if unknown:
            have = ", ".join(known) or "none"
            raise ValueError(
                f"{', '.join(f'`{name}`' for name in unknown)} does not apply to loss '{self.name}' "
                f"(its hyperparameters: {have})."
            )
        return {name: values.get(name, h.default) for name, h in known.items()}

    def build(self, num_classes, name="head", **values):
        """Builds (head, feature_loss or None) with `values` over the defaults.

        The head is named `name` and a centre layer f"{name}_centers", so that
        two builds of one model name their class matrices alike (layouts of
        `tf_wsoftmax.distribution` and checkpoints read across builds key on names).
        """
        params = self.resolve(values)
        arguments = {"head": {}, "feature_loss": {}}
        for h in self.hyperparameters:
            arguments[h.target][h.argument or h.name] = params[h.name]
        head = self.head(num_classes, name=name, **arguments["head"])
        feature_loss = None
        if self.feature_loss:
            feature_loss = self.feature_loss(num_classes, name=f"{name}_centers", **arguments["feature_loss"])
        return head, feature_loss


def _dense(num_classes, name):
    return keras.layers.Dense(num_classes, kernel_initializer="glorot_uniform", name=name)


def _lambda_schedule(base, gamma, power, minimum):
    return (
        Hyperparameter("lambda_base", base, "L-/A-Softmax lambda annealing: base"),
        Hyperparameter("lambda_gamma", gamma, "L-/A-Softmax lambda annealing: gamma"),
        Hyperparameter("lambda_power", power, "L-/A-Softmax lambda annealing: power"),
        Hyperparameter("lambda_min", minimum, "L-/A-Softmax lambda annealing: floor"),
    )


_FIXED_SIMPLEX = Hyperparameter("fixed_simplex", False, "fix the class vectors to the regular simplex")
_MULTIPLICATIVE_MARGIN = Hyperparameter(
    "multiplicative_margin", 4, "L-/A-Softmax integer angular margin m in {1, 2, 3, 4}", argument="margin"
)
_SCALE = Hyperparameter("scale", 64.0, "CosFace / ArcFace logit scale s")
_CENTER_WEIGHT = Hyperparameter(
    "center_weight", 0.01, "lambda: weight of the centre loss in the objective", argument="weight", target="feature_loss"
)

LOSSES = {
    entry.name: entry
    for entry in (
        LossEntry("softmax", "plain Dense + softmax cross-entropy", lambda k, name: _dense(k, name)),
        LossEntry(
            "normalized_softmax", "softmax on L2-normalised, bias-free class vectors",
            layers.NormalizedDense, (_FIXED_SIMPLEX,),
        ),
        LossEntry(
            "wsoftmax",
            "W-Softmax (Li & Wang 2019): negatives scored with normalise(W_j + alpha W_y)",
            layers.NormalizedDense,
            (
                Hyperparameter("alpha", 1.0, "W-Softmax weight bias alpha >= 0"),
                Hyperparameter(
                    "bias_gradient", "stop",
                    "W-Softmax backward pass: 'stop' (bias and norm constant) or 'full' (exact gradient)",
                ),
                Hyperparameter("alpha_warmup_steps", 0, "W-Softmax: softmax steps first (Algorithm 1)"),
                Hyperparameter("alpha_ramp_steps", 0, "W-Softmax: steps of a linear ramp to alpha after the warm-up"),
                _FIXED_SIMPLEX,
            ),
        ),
        LossEntry(
            "lsoftmax", "L-Softmax (Liu et al. 2016), multiplicative angular margin",
            layers.LSoftmaxDense, (_MULTIPLICATIVE_MARGIN,) + _lambda_schedule(1000.0, 2.5e-5, 35.0, 0.0),
        ),
        LossEntry(
            "sphereface", "A-Softmax / SphereFace (Liu et al. 2017): L-Softmax on normalised weights",
            layers.SphereFaceDense, (_MULTIPLICATIVE_MARGIN,) + _lambda_schedule(1000.0, 0.12, 1.0, 5.0),
        ),
        LossEntry(
            "cosface", "CosFace / LMCL (Wang et al. 2018): s (cos t_y - m)", layers.CosFaceDense,
            (_SCALE, Hyperparameter("cosine_margin", 0.35, "CosFace margin m in [0, 2)", argument="margin")),
        ),
        LossEntry(
            "arcface", "ArcFace (Deng et al. 2019): s cos(t_y + m)", layers.ArcFaceDense,
            (_SCALE, Hyperparameter("angular_margin", 0.5, "ArcFace additive angular margin m (radians)", argument="margin")),
        ),
        LossEntry(
            "center", "softmax + center loss (Wen et al. 2016)", lambda k, name: _dense(k, name),
            (
                _CENTER_WEIGHT,
                Hyperparameter(
                    "center_rate", 0.5, "center loss: centre update rate in [0, 1]", target="feature_loss"
                ),
            ),
            layers.CenterLossLayer,
        ),
        LossEntry(
            "contrastive_center", "softmax + contrastive-center loss (Qi & Su 2017)", lambda k, name: _dense(k, name),
            (
                _CENTER_WEIGHT,
                Hyperparameter("delta", 1.0, "contrastive-center delta > 0", target="feature_loss"),
                Hyperparameter(
                    "center_learning_rate", 0.5, "contrastive-center: the centres' own learning rate",
                    target="feature_loss",
                ),
            ),
            layers.ContrastiveCenterLossLayer,
        ),
    )
}


def get_loss(name):
    """The `LossEntry` called `name`; unknown names raise with the known ones listed."""
    if name not in LOSSES:
        raise ValueError(f"Unknown loss '{name}'. Known: {', '.join(LOSSES)}")
    return LOSSES[name]


def build_loss(name, num_classes, head_name="head", **hyperparameters):
    """Builds a loss's head and centre layer by name.

    Args:
        name: a key of `LOSSES`.
        num_classes: K.
        head_name: the head layer's name. Defaults to "head".
        **hyperparameters: values over the entry's defaults; a name the loss
            does not have is an error.

    Returns:
        (head, feature_loss or None).

    Example:
    >>> head, centers = build_loss("center", 10, center_weight=0.1)
    >>> type(head).__name__, type(centers).__name__, centers.weight
    ('Dense', 'CenterLossLayer', 0.1)
    """
    return get_loss(name).build(num_classes, name=head_name, **hyperparameters)


def all_hyperparameters():
    """Every hyperparameter name of the table -> its declarations (one per loss that has it)."""
    table = {}
    for entry in LOSSES.values():
        for h in entry.hyperparameters:
            table.setdefault(h.name, []).append(h)
    return table
