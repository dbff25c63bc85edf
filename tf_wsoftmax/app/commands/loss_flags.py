"""One flag per loss hyperparameter, generated from `tf_wsoftmax.declarations` (no Keras import).

Each flag's help names the losses that have it and their defaults side by
side ("lsoftmax 2.5e-05 / sphereface 0.12"). A flag the chosen `--loss` does
not have, and a value outside the declared bounds, is refused before any
framework import (`check_loss_flags`).
"""

from tf_wsoftmax.app.commands.spec import UsageError
from tf_wsoftmax.app.commands.spec import arg
from tf_wsoftmax.declarations import LOSS_DECLARATIONS
from tf_wsoftmax.declarations import all_hyperparameters

# Hyperparameters that runs derive rather than take as flags (from --pretrain-epochs / --pretrain-steps).
DERIVED_HYPERPARAMETERS = ("alpha_warmup_steps",)

# Where `train` and the sweeps use another value than the declared default (the paper presets of
# `tf_wsoftmax.app.experiment.config.paper_presets`; tests/app/test_cli.py checks each one against it).
PRESET_DEFAULTS = {
    "scale": "16 for train's 10-class datasets (paper preset), 64 for train-faces",
}
PRESET_NOTES = {
    "multiplicative_margin": "cifar10 / cifar100 paper preset: 2",
    "lambda_gamma": "cifar10 / cifar100 paper preset of lsoftmax: 2e-05, with --augment 1e-05",
    "lambda_power": "cifar10 / cifar100 paper preset of lsoftmax: 45",
}


def flag_of(name):
    """The flag of hyperparameter `name` ("lambda_gamma" -> "--lambda-gamma")."""
    return "--" + name.replace("_", "-")


def _shown(value):
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def owners(name):
    """[(loss name, its `Hyperparameter`)] for every loss that has hyperparameter `name`, in table order."""
    return [
        (entry.name, h) for entry in LOSS_DECLARATIONS.values() for h in entry.hyperparameters if h.name == name
    ]


def default_text(name, presets):
    """The default of a flag in words: one value, or each loss's value beside its name.

    Args:
        name: the hyperparameter.
        presets: whether the command applies the paper presets (`train` and the sweeps).

    Returns:
        E.g. "default: 1", "default: lsoftmax 2.5e-05 / sphereface 0.12".
    """
    if name in PRESET_DEFAULTS:
        return "default: " + PRESET_DEFAULTS[name]
    pairs = owners(name)
    values = {_shown(h.default) for _, h in pairs}
    text = "default: " + (
        values.pop() if len(values) == 1 else " / ".join(f"{loss} {_shown(h.default)}" for loss, h in pairs)
    )
    if presets and name in PRESET_NOTES:
        text += "; " + PRESET_NOTES[name]
    return text


def loss_arguments(presets, without=()):
    """The generated loss flags, one `Argument` per hyperparameter of the declarations.

    Args:
        presets: whether the command applies the dataset's paper presets before
            the declared defaults (`train` and the sweeps; `train-faces` does not).
        without: hyperparameter names the command sets itself (no flag).

    Returns:
        A tuple of `Argument`s (all with default None: unset).
    """
    unset = "the dataset's paper preset, else the loss's default" if presets else "the loss's default"
    group = (
        "loss hyperparameters (generated from tf_wsoftmax.declarations; a flag the chosen --loss does not have is "
        f"an error; unset: {unset})"
    )
    arguments = []
    for name, declarations in all_hyperparameters().items():
        if name in DERIVED_HYPERPARAMETERS or name in without:
            continue
        first = declarations[0]
        bounds = first.bounds_text()
        losses = ", ".join(loss for loss, _ in owners(name))
        help_text = f"{first.help}{'; ' + bounds if bounds else ''} [{losses}] ({default_text(name, presets)})"
        if first.kind is bool:
            arguments.append(arg(flag_of(name), dest=name, action="store_const", const=True, default=None,
                                 help=help_text, group=group))
        elif first.kind is str:
            arguments.append(arg(flag_of(name), dest=name, choices=list(first.choices), default=None,
                                 help=help_text, group=group))
        else:
            arguments.append(arg(flag_of(name), dest=name, type=first.kind, default=None, help=help_text,
                                 metavar=name.upper(), group=group))
    return tuple(arguments)


def loss_params(args):
    """The loss hyperparameters given on the command line: {registry name: value}."""
    return {name: getattr(args, name) for name in all_hyperparameters() if getattr(args, name, None) is not None}


def check_loss_flags(args, loss=None):
    """Refuses a loss flag the chosen loss does not have, or a value outside its declared bounds.

    Args:
        args: the parsed namespace.
        loss: the loss the flags go to. Defaults to `args.loss`.

    Raises:
        UsageError: naming the flag, the loss and the losses that have it, or the bounds.
    """
    loss = loss or args.loss
    declared = {h.name: h for h in LOSS_DECLARATIONS[loss].hyperparameters}
    for name, value in loss_params(args).items():
        if name not in declared:
            others = ", ".join(owner for owner, _ in owners(name))
            raise UsageError(f"{flag_of(name)} does not apply to --loss {loss} (it is a flag of {others})")
        try:
            declared[name].check(value, name=name)
        except ValueError as error:
            raise UsageError(f"{flag_of(name)}: {error}") from None
