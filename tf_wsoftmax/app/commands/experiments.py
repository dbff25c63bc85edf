"""The paper's experiments: `train`, the five sweeps and `paper-tables`.

`train` and the sweeps share one set of flags (the data, the loss and its
generated hyperparameter flags, the network and the schedule); each sweep
drops the flags it sets itself (`--alpha` of `alpha-sweep`, given per row by
`--alphas`) and adds its own, so a flag of another sweep is refused.
"""

from tf_wsoftmax.app.commands.loss_flags import check_loss_flags
from tf_wsoftmax.app.commands.loss_flags import loss_arguments
from tf_wsoftmax.app.commands.loss_flags import loss_params
from tf_wsoftmax.app.commands.spec import Command
from tf_wsoftmax.app.commands.spec import UsageError
from tf_wsoftmax.app.commands.spec import arg
from tf_wsoftmax.app.commands.spec import non_negative_float
from tf_wsoftmax.app.commands.spec import non_negative_int
from tf_wsoftmax.app.commands.spec import positive_float
from tf_wsoftmax.app.commands.spec import positive_int
from tf_wsoftmax.declarations import LOSS_DECLARATIONS
from tf_wsoftmax.models.specs import BACKBONES
from tf_wsoftmax.models.specs import DEFAULT_BACKBONES

BACKENDS = ["tensorflow", "jax"]
LOSS = arg("--loss", default="wsoftmax", choices=list(LOSS_DECLARATIONS), metavar="LOSS",
           help=f"the loss, one of the registry's (tf_wsoftmax.losses.LOSSES): {', '.join(LOSS_DECLARATIONS)}")


def backend_argument():
    """`--backend`, shared by every command that trains or times on a chosen Keras backend."""
    return arg(
        "--backend", choices=BACKENDS,
        help="Keras backend (default: KERAS_BACKEND, else Keras' own default); both train through one runner "
        "(MarginClassifier.fit over NumPy batches: the same batches and augmentation), jax with no TensorFlow",
    )


def training_arguments(without=()):
    """The flags of `train` (less --out / --overwrite), less the flags named in `without`.

    Args:
        without: flags a sweep sets itself (e.g. "--alpha", "--loss").

    Returns:
        A tuple of `Argument`s.
    """
    by_dataset = ", ".join(f"{d}: {b}" for d, b in DEFAULT_BACKBONES.items())
    arguments = (
        arg("--dataset", default="digits", choices=sorted(DEFAULT_BACKBONES),
            help="the data: digits (scikit-learn's bundled 8x8 digits, offline), mnist / fashion_mnist (IDX files), "
            "cifar10 / cifar100 (docs/reproduction.md lists where each is looked for)"),
        arg("--data-dir", exists="folder",
            help="an existing folder with IDX / CIFAR files, also tfds' data_dir (default: none: Fashion-MNIST from "
            "/usr/share/datasets/fashion-mnist if there, else tfds)"),
        arg("--classes", type=positive_int, help="keep only the first K classes (default: all)"),
        arg("--no-download", action="store_true", help="never let tfds download (use files already there)"),
        LOSS,
        arg("--pretrain-epochs", type=non_negative_int,
            help="W-Softmax: softmax epochs first (Algorithm 1), in the same run (default: a quarter of --epochs, "
            "at least 1 from 2 epochs; 0 disables)"),
        *loss_arguments(presets=True, without=[f.lstrip("-").replace("-", "_") for f in without]),
        arg("--backbone", choices=sorted(BACKBONES), help=f"the network (default: by dataset, {by_dataset})"),
        arg("--feature-dim", type=positive_int, help="width of the FC feature layer (default: the backbone's)"),
        arg("--epochs", type=positive_int, default=20, help="epochs (more on a finished run extend it)"),
        arg("--batch-size", type=positive_int, default=50, help="batch size (the paper's MNIST batch)"),
        arg("--learning-rate", type=positive_float, default=0.01,
            help="SGD learning rate, x0.9 every 6000 steps (the paper's schedule)"),
        arg("--weight-decay", type=non_negative_float, default=5e-4, help="L2 weight decay of the kernels"),
        arg("--augment", action="store_true", help="pad-crop + flip (the standard CIFAR augmentation)"),
        arg("--seed", type=int, default=0, help="seed of the initialisation, the split and the batch order"),
        arg("--jit", action="store_true", help="TensorFlow: XLA-compile the train step (JAX always compiles)"),
        backend_argument(),
        arg("--checkpoint-every", type=positive_int, default=500, help="steps between mid-epoch checkpoints"),
        arg("--quiet", action="store_true", help="no progress bar or per-epoch lines"),
    )
    return tuple(a for a in arguments if not set(a.flags) & set(without))


def check_training_flags(args):
    """The rules between the flags of `train` and the sweeps (before any import).

    Raises:
        UsageError: a loss flag the loss does not have or out of bounds;
            --pretrain-epochs beyond --epochs or with another loss than wsoftmax.
    """
    loss = getattr(args, "loss", "wsoftmax")
    check_loss_flags(args, loss)
    pretrain = getattr(args, "pretrain_epochs", None)
    if pretrain is not None:
        if pretrain > args.epochs:
            raise UsageError(f"--pretrain-epochs {pretrain} is more than --epochs {args.epochs}")
        if pretrain and loss != "wsoftmax":
            raise UsageError(f"--pretrain-epochs (softmax pre-training) applies to --loss wsoftmax only, not {loss}")


def train_config(args):
    """The `TrainConfig` of `train` or a sweep's base run (the flags a sweep lacks keep their defaults).

    Args:
        args: the parsed namespace.

    Returns:
        A `tf_wsoftmax.app.experiment.TrainConfig`.
    """
    from tf_wsoftmax.app.experiment import TrainConfig

    return TrainConfig(
        dataset=args.dataset,
        data_dir=args.data_dir,
        classes=getattr(args, "classes", None),
        download=not args.no_download,
        loss=getattr(args, "loss", "wsoftmax"),
        loss_params=loss_params(args),
        pretrain_epochs=args.pretrain_epochs,
        backbone=args.backbone,
        feature_dim=getattr(args, "feature_dim", None),
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        weight_decay=args.weight_decay,
        augment=args.augment,
        seed=getattr(args, "seed", 0),
        jit_compile=args.jit,
        checkpoint_every=args.checkpoint_every,
    )


def print_warnings(metrics):
    """A run's warnings (stuck at chance, collapsed features, ...) on stderr."""
    import sys

    for warning in metrics.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)


def _run_train(config, args):
    from tf_wsoftmax.app.experiment import run_training

    metrics = run_training(config, args.out, verbose=not args.quiet, overwrite=args.overwrite)
    print_warnings(metrics)
    if metrics["call"]["resumed_from_step"] is not None:
        print(f"resumed from step {metrics['call']['resumed_from_step']} of the run in {args.out}")
    print(
        f"test_accuracy={metrics['test_accuracy']:.4f} train_accuracy={metrics['train_accuracy']:.4f} "
        f"mean_angle_test={metrics['mean_angle_test']:.2f} mean_angle_train={metrics['mean_angle_train']:.2f} "
        f"fc_params={metrics['fc_params']} -> {args.out}/metrics.json, model {args.out}/{metrics['model']}"
    )
    return 0


OVERWRITE = arg(
    "--overwrite", action="store_true",
    help="a run of another config in --out: delete that run's files (only the files tf_wsoftmax wrote; "
    "anything else there is refused) and start over",
)

TRAIN = Command(
    name="train",
    help="train one configuration (resumable); writes OUT/metrics.json and OUT/model.keras",
    arguments=training_arguments() + (arg("--out", required=True, help="the run folder (resumable)"), OVERWRITE),
    checks=(check_training_flags,),
    config=train_config,
    run=_run_train,
)


# The sweeps: each runs softmax and W-Softmax rows over one setting (`tf_wsoftmax.app.experiment.sweeps`).


def _units_sweep(base, args):
    from tf_wsoftmax.app.experiment import sweeps

    records = sweeps.units_sweep(base, args.feature_dims, alphas=args.alphas, out_dir=args.out)
    return sweeps.format_records(records, ["feature_dim", "loss", "test_accuracy", "fc_params"])


def _alpha_sweep(base, args):
    from tf_wsoftmax.app.experiment import sweeps

    records = sweeps.alpha_sweep(base, alphas=args.alphas, out_dir=args.out)
    return sweeps.format_records(records, ["loss", "test_accuracy", "mean_angle_test"])


def _class_sweep(base, args):
    from tf_wsoftmax.app.experiment import sweeps

    records = sweeps.class_sweep(base, classes=args.classes_list, out_dir=args.out)
    return sweeps.format_records(records, ["classes", "loss", "test_accuracy"])


def _features_2d(base, args):
    from tf_wsoftmax.app.experiment import sweeps

    accuracies = sweeps.features_2d(base, out_dir=args.out)
    return "\n".join(f"{k}: {v:.4f}" for k, v in accuracies.items())


def _gradient_modes(base, args):
    from tf_wsoftmax.app.experiment import gradient_modes

    records = gradient_modes.gradient_mode_sweep(
        base, alphas=args.alphas, seeds=args.seeds, out_dir=args.out, groups=args.groups
    )
    return gradient_modes.format_table(records)


def _alphas(default):
    return arg("--alphas", type=non_negative_float, nargs="+", default=default,
               help="W-Softmax alphas: one W-Softmax row per alpha beside softmax")


GROUPS = ["softmax", "stop", "full", "simplex"]
ROWS = "its rows' losses are its own (softmax and W-Softmax)"
# name -> (help, own flags, flags it sets itself -> what sets them, table builder)
SWEEPS = {
    "units-sweep": (
        "accuracy and FC memory vs feature units (Fig. 4)",
        (arg("--feature-dims", type=positive_int, nargs="+", default=[2, 5, 9, 32, 90, 900],
             help="feature layer widths: one run of each row per width"), _alphas([1.0])),
        {"--loss": ROWS, "--alpha": "use --alphas", "--feature-dim": "use --feature-dims"},
        _units_sweep,
    ),
    "alpha-sweep": (
        "per-class mean angles, softmax vs W-Softmax alphas (Fig. 5)",
        (_alphas([0.5, 1.0, 1.5]),),
        {"--loss": ROWS, "--alpha": "use --alphas"},
        _alpha_sweep,
    ),
    "class-sweep": (
        "softmax vs W-Softmax on the first K classes (Table 4)",
        (arg("--classes-list", type=positive_int, nargs="+", default=[5, 6, 7, 8, 9, 10],
             help="K values: softmax and W-Softmax (--alpha) on the first K classes of each"),),
        {"--loss": ROWS, "--classes": "use --classes-list"},
        _class_sweep,
    ),
    "features-2d": (
        "2-D features: softmax / center / contrastive-center / W-Softmax (LeNets++ unless --backbone)",
        (),
        {"--loss": "its rows are softmax, center, contrastive_center and wsoftmax",
         "--feature-dim": "its features are 2-D"},
        _features_2d,
    ),
    "gradient-modes": (
        "W-Softmax bias_gradient 'stop' vs 'full' (+ fixed simplex) over alphas and seeds",
        (_alphas([0.0, 0.5, 1.0, 1.5]),
         arg("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds: every row once per seed"),
         arg("--groups", nargs="+", default=GROUPS, choices=GROUPS,
             help="rows besides the alpha-0 baseline (softmax: the biased Dense; stop / full: W-Softmax's two "
             "gradients at each alpha > 0; simplex: the fixed simplex head)")),
        {"--loss": ROWS, "--alpha": "use --alphas", "--bias-gradient": "its rows are 'stop' and 'full'",
         "--fixed-simplex": "use --groups simplex", "--seed": "use --seeds"},
        _gradient_modes,
    ),
}


def _sweep_command(name, help_text, own, replaced, table):
    def run(base, args):
        print(table(base, args))
        print(f"figures and summary.json in {args.out}")
        return 0

    return Command(
        name=name,
        help=help_text,
        arguments=training_arguments(without=tuple(replaced))
        + (arg("--out", default=f"runs/{name}", help="the sweep's folder (one resumable run folder per row)"),)
        + own,
        checks=(check_training_flags,),
        config=train_config,
        run=run,
        replaced=replaced,
    )


def _paper_tables_config(args):
    from tf_wsoftmax.app.experiment.paper_tables import PaperTablesConfig

    return PaperTablesConfig(
        dataset=args.dataset, data_dir=args.data_dir, budget_seconds=60.0 * args.budget_minutes,
        runs_dir=args.runs_dir, seed=args.seed, tiny=args.tiny, max_epochs=args.max_epochs,
    )


def _run_paper_tables(config, args):
    from tf_wsoftmax.app.experiment.paper_tables import format_tables
    from tf_wsoftmax.app.experiment.paper_tables import paper_tables
    from tf_wsoftmax.training.run_folder import RunFolderError

    try:
        summary = paper_tables(config, args.out)
    except RunFolderError as error:  # its advice names flags of `train`; here the run folders are --runs-dir's
        text = str(error)
        advice = text.find(" Use another folder")
        raise UsageError(
            f"--runs-dir {args.runs_dir}: {text[:advice] if advice >= 0 else text} Give another --runs-dir, or move "
            "that run folder away."
        ) from None
    print(format_tables(summary))
    print(f"paper_tables.json, paper_tables.md and fig5_angles.png in {args.out}")
    return 0


PAPER_TABLES = Command(
    name="paper-tables",
    help="Table 1, Fig. 5 angles and Table 4 (MNIST / Fashion-MNIST) sized to a time budget",
    arguments=(
        arg("--dataset", default="mnist", choices=["mnist", "fashion_mnist"], help="the data"),
        arg("--data-dir", required=True, exists="folder", help="folder of the dataset's IDX files"),
        arg("--out", required=True, help="paper_tables.json / .md and fig5_angles.png go here"),
        arg("--runs-dir", default="runs/paper_tables", help="the run folders (resumable)"),
        arg("--budget-minutes", type=positive_float, default=10.0,
            help="wall time for everything, in minutes, the timing epoch included"),
        arg("--max-epochs", type=positive_int, default=100, help="the most epochs a run gets, whatever the budget"),
        arg("--seed", type=int, default=0, help="seed of every run"),
        arg("--tiny", action="store_true", help="smoke test: backbone tiny, 1 epoch, Table 4 at K = 5"),
        backend_argument(),
    ),
    config=_paper_tables_config,
    run=_run_paper_tables,
)

COMMANDS = (TRAIN,) + tuple(_sweep_command(name, *spec) for name, spec in SWEEPS.items()) + (PAPER_TABLES,)

__all__ = ["COMMANDS", "check_training_flags", "train_config", "training_arguments"]
