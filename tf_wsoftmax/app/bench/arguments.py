"""Command-line flags of the benchmarks that `app/cli.py` does not define yet.

`add_bench_arguments(parser)` adds them to the `bench` subcommand's parser; `heads_options(args)`
turns them into keyword arguments of `tf_wsoftmax.app.bench.heads.time_heads`.
"""


def add_bench_arguments(parser):
    """Adds the flags of `bench heads` introduced with the chunked objective.

    Args:
        parser: the `bench` subcommand's `argparse` parser.
    """
    parser.add_argument(
        "--update", action="store_true",
        help="heads: time a head's part of a training step (objective, gradients and the optimizer's update of the "
        "class matrices; LazyColumnSGD for sampling heads) instead of the objective's forward and backward pass",
    )


def heads_options(args):
    """The keyword arguments of `heads.time_heads` that the flags of `add_bench_arguments` set."""
    return {"update": bool(getattr(args, "update", False))}
