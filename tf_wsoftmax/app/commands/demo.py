"""`demo`: softmax vs W-Softmax on scikit-learn's bundled digits, offline."""

from tf_wsoftmax.app.commands.spec import Command
from tf_wsoftmax.app.commands.spec import UsageError
from tf_wsoftmax.app.commands.spec import arg
from tf_wsoftmax.app.commands.spec import non_negative_float
from tf_wsoftmax.app.commands.spec import non_negative_int
from tf_wsoftmax.app.commands.spec import positive_int
from tf_wsoftmax.declarations import declaration_of


def _check(args):
    if args.pretrain_epochs is not None and args.pretrain_epochs > args.epochs:
        raise UsageError(f"--pretrain-epochs {args.pretrain_epochs} is more than --epochs {args.epochs}")


def _config(args):
    from tf_wsoftmax.app.demo import DemoConfig

    return DemoConfig(
        epochs=args.epochs,
        pretrain_epochs=args.pretrain_epochs,
        alpha=args.alpha,
        bias_gradient=args.bias_gradient,
        feature_dim=args.feature_dim,
        batch_size=args.batch_size,
        seed=args.seed,
    )


def _run(config, args):
    import dataclasses
    import json

    from tf_wsoftmax.app.demo import format_results
    from tf_wsoftmax.app.demo import run_digits_demo

    results = run_digits_demo(config)
    print(format_results(results, config))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": dataclasses.asdict(config), "results": results}, f, indent=2)
    return 0


_BIAS_GRADIENT = declaration_of("wsoftmax", "bias_gradient")

DEMO = Command(
    name="demo",
    help="softmax vs W-Softmax on scikit-learn's bundled digits (offline, under a minute)",
    arguments=(
        arg("--epochs", type=positive_int, default=20, help="epochs of each of the two runs"),
        arg("--pretrain-epochs", type=non_negative_int,
            help="W-Softmax run: softmax epochs first (Algorithm 1) (default: a quarter of --epochs, at least 1 "
            "from 2 epochs; 0 disables)"),
        arg("--alpha", type=non_negative_float, default=1.0, help="W-Softmax weight bias alpha"),
        arg("--bias-gradient", choices=list(_BIAS_GRADIENT.choices), default=_BIAS_GRADIENT.default,
            help=_BIAS_GRADIENT.help),
        arg("--feature-dim", type=positive_int, default=9, help="feature layer width (K - 1 = 9)"),
        arg("--batch-size", type=positive_int, default=50, help="batch size"),
        arg("--seed", type=int, default=0, help="seed of the split, the initialisation and the batch order"),
        arg("--json", help="also write the config and the results to this JSON file (default: none)"),
    ),
    checks=(_check,),
    config=_config,
    run=_run,
)

COMMANDS = (DEMO,)
