"""`tf-wsoftmax` command line: parse flags, build a config, call the library."""

import argparse
import json
import sys


def _demo(args):
    from tf_wsoftmax.demo import DemoConfig
    from tf_wsoftmax.demo import format_results
    from tf_wsoftmax.demo import run_digits_demo

    config = DemoConfig(
        epochs=args.epochs,
        pretrain_epochs=args.pretrain_epochs,
        alpha=args.alpha,
        feature_dim=args.units,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    results = run_digits_demo(config)
    print(format_results(results, config))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": vars(args) | {"func": None}, "results": results}, f, indent=2)
    return 0


def build_parser():
    """Returns the argparse parser of `tf-wsoftmax`."""
    parser = argparse.ArgumentParser(prog="tf-wsoftmax", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="softmax vs W-Softmax on scikit-learn's bundled digits (offline)"
    )
    demo.add_argument("--epochs", type=int, default=20)
    demo.add_argument("--pretrain-epochs", type=int, default=5)
    demo.add_argument("--alpha", type=float, default=1.0)
    demo.add_argument("--units", type=int, default=9, help="feature layer width (K - 1 = 9 by default)")
    demo.add_argument("--batch-size", type=int, default=50)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--json", help="also write the results to this JSON file")
    demo.set_defaults(func=_demo)
    return parser


def main(argv=None):
    """Entry point of the `tf-wsoftmax` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
