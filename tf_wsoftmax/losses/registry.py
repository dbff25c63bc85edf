"""The library's losses by name: `tf_wsoftmax.declarations` paired with the layer classes.

Every tool that builds a loss by name (the CLI, the experiment runner, the
sweeps, the face pipeline, `bench step`, `bench heads`) goes through
`build_loss`. The names, defaults, bounds and help of the hyperparameters are
declared once, as plain data, in `tf_wsoftmax.declarations`; the CLI's flags
are generated from there without importing Keras.
"""

import dataclasses

import keras

from tf_wsoftmax import layers
from tf_wsoftmax.declarations import LOSS_DECLARATIONS
from tf_wsoftmax.declarations import Hyperparameter  # noqa: F401  (re-exported)
from tf_wsoftmax.declarations import LossDeclaration
from tf_wsoftmax.declarations import all_hyperparameters  # noqa: F401  (re-exported)


@dataclasses.dataclass(frozen=True)
class LossEntry:
    """A loss of the library: its declaration and the layers that implement it.

    Args:
        declaration: the `tf_wsoftmax.declarations.LossDeclaration` (name,
            summary, hyperparameters).
        head: callable (num_classes, name, **head arguments) -> the head layer.
        feature_loss: optional callable (num_classes, **arguments) -> the
            centre layer added to the objective.
    """

    declaration: LossDeclaration
    head: object
    feature_loss: object = None

    @property
    def name(self):
        return self.declaration.name

    @property
    def summary(self):
        return self.declaration.summary

    @property
    def hyperparameters(self):
        return self.declaration.hyperparameters

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
        arguments = {"head": dict(self.declaration.head_arguments), "feature_loss": {}}
        for h in self.hyperparameters:
            arguments[h.target][h.argument or h.name] = params[h.name]
        head = self.head(num_classes, name=name, **arguments["head"])
        feature_loss = None
        if self.feature_loss:
            feature_loss = self.feature_loss(num_classes, name=f"{name}_centers", **arguments["feature_loss"])
        return head, feature_loss


def _dense(num_classes, name):
    return keras.layers.Dense(num_classes, kernel_initializer="glorot_uniform", name=name)


def _layer_class(class_name):
    return _dense if class_name == "Dense" else getattr(layers, class_name)


LOSSES = {
    name: LossEntry(
        declaration,
        _layer_class(declaration.head),
        _layer_class(declaration.feature_loss) if declaration.feature_loss else None,
    )
    for name, declaration in LOSS_DECLARATIONS.items()
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
