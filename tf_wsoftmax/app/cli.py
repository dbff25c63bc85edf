"""`tf-wsoftmax` command line: parse flags, build a config, call the library."""

import argparse
import json
import sys


def _demo(args):
    from tf_wsoftmax.app.demo import DemoConfig
    from tf_wsoftmax.app.demo import format_results
    from tf_wsoftmax.app.demo import run_digits_demo

    config = DemoConfig(
        epochs=args.epochs,
        pretrain_epochs=args.pretrain_epochs,
        alpha=args.alpha,
        bias_gradient=args.bias_gradient,
        feature_dim=args.feature_dim,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    results = run_digits_demo(config)
    print(format_results(results, config))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": vars(args) | {"func": None}, "results": results}, f, indent=2)
    return 0


def _print_warnings(metrics):
    for warning in metrics.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)


# Hyperparameters that runs derive rather than take as flags (from --pretrain-epochs / --pretrain-steps).
DERIVED_HYPERPARAMETERS = ("alpha_warmup_steps",)


def _add_loss_arguments(parser):
    """One flag per loss hyperparameter, generated from `tf_wsoftmax.declarations` (no Keras import)."""
    from tf_wsoftmax.declarations import LOSS_DECLARATIONS
    from tf_wsoftmax.declarations import all_hyperparameters

    group = parser.add_argument_group(
        "loss hyperparameters (generated from tf_wsoftmax.declarations; a flag the chosen --loss "
        "does not have is an error; unset: the dataset's paper preset, else the registry default)"
    )
    for name, declarations in all_hyperparameters().items():
        if name in DERIVED_HYPERPARAMETERS:
            continue
        owners = [entry.name for entry in LOSS_DECLARATIONS.values() if any(h.name == name for h in entry.hyperparameters)]
        defaults = sorted({repr(h.default) for h in declarations})
        bounds = declarations[0].bounds_text()
        help_text = (
            f"{declarations[0].help}{', ' + bounds if bounds else ''} [{', '.join(owners)}; default {' / '.join(defaults)}]"
        )
        flag = "--" + name.replace("_", "-")
        if declarations[0].kind is bool:
            group.add_argument(flag, dest=name, action="store_const", const=True, default=None, help=help_text)
        else:
            group.add_argument(flag, dest=name, type=declarations[0].kind, default=None, help=help_text)


def _loss_params(args):
    """The loss hyperparameters given on the command line."""
    from tf_wsoftmax.declarations import all_hyperparameters

    return {name: getattr(args, name) for name in all_hyperparameters() if getattr(args, name, None) is not None}


def _train_config(args):
    from tf_wsoftmax.app.experiment import TrainConfig

    return TrainConfig(
        dataset=args.dataset,
        data_dir=args.data_dir,
        classes=args.classes,
        download=not args.no_download,
        loss=args.loss,
        loss_params=_loss_params(args),
        pretrain_epochs=args.pretrain_epochs,
        backbone=args.backbone,
        feature_dim=args.feature_dim,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        weight_decay=args.weight_decay,
        augment=args.augment,
        seed=args.seed,
        jit_compile=args.jit,
        checkpoint_every=args.checkpoint_every,
    )


def _check_backend(args):
    """Raises if `--backend` names another backend than the one Keras started on."""
    import keras

    if getattr(args, "backend", None) and args.backend != keras.backend.backend():
        raise ValueError(
            f"--backend {args.backend}: Keras was started on {keras.backend.backend()!r}. Run through the "
            f"`tf-wsoftmax` command (it sets KERAS_BACKEND from --backend) or set KERAS_BACKEND={args.backend}."
        )


def _train(args):
    from tf_wsoftmax.app.experiment import run_training

    _check_backend(args)

    metrics = run_training(_train_config(args), args.out, verbose=not args.quiet, overwrite=args.overwrite)
    _print_warnings(metrics)
    if metrics["call"]["resumed_from_step"] is not None:
        print(f"resumed from step {metrics['call']['resumed_from_step']} of the run in {args.out}")
    print(
        f"test_accuracy={metrics['test_accuracy']:.4f} train_accuracy={metrics['train_accuracy']:.4f} "
        f"mean_angle_test={metrics['mean_angle_test']:.2f} mean_angle_train={metrics['mean_angle_train']:.2f} "
        f"fc_params={metrics['fc_params']} -> {args.out}/metrics.json, model {args.out}/{metrics['model']}"
    )
    return 0


def _sweep(args):
    from tf_wsoftmax.app.experiment import sweeps

    _check_backend(args)
    base = _train_config(args)
    if args.command == "units-sweep":
        records = sweeps.units_sweep(base, args.feature_dims, alphas=args.alphas, out_dir=args.out)
        print(sweeps.format_records(records, ["feature_dim", "loss", "test_accuracy", "fc_params"]))
    elif args.command == "alpha-sweep":
        records = sweeps.alpha_sweep(base, alphas=args.alphas, out_dir=args.out)
        print(sweeps.format_records(records, ["loss", "test_accuracy", "mean_angle_test"]))
    elif args.command == "gradient-modes":
        from tf_wsoftmax.app.experiment import gradient_modes

        records = gradient_modes.gradient_mode_sweep(
            base, alphas=args.alphas, seeds=args.seeds, out_dir=args.out, groups=args.groups
        )
        print(gradient_modes.format_table(records))
    elif args.command == "class-sweep":
        records = sweeps.class_sweep(base, classes=args.classes_list, out_dir=args.out)
        print(sweeps.format_records(records, ["classes", "loss", "test_accuracy"]))
    else:
        accuracies = sweeps.features_2d(base, out_dir=args.out)
        print("\n".join(f"{k}: {v:.4f}" for k, v in accuracies.items()))
    print(f"figures and summary.json in {args.out}")
    return 0


def _paper_tables(args):
    from tf_wsoftmax.app.experiment.paper_tables import PaperTablesConfig
    from tf_wsoftmax.app.experiment.paper_tables import format_tables
    from tf_wsoftmax.app.experiment.paper_tables import paper_tables

    _check_backend(args)
    config = PaperTablesConfig(
        dataset=args.dataset, data_dir=args.data_dir, budget_seconds=60.0 * args.budget_minutes,
        runs_dir=args.runs_dir, seed=args.seed, tiny=args.tiny, max_epochs=args.max_epochs,
    )
    print(format_tables(paper_tables(config, args.out)))
    print(f"paper_tables.json, paper_tables.md and fig5_angles.png in {args.out}")
    return 0


def _align(args):
    from tf_wsoftmax.data.face_align import AlignConfig
    from tf_wsoftmax.data.face_align import align_folder

    config = AlignConfig(
        image_size=args.image_size,
        margin=args.margin,
        selection=args.selection,
        landmarks=args.landmarks,
        min_confidence=args.min_confidence,
        workers=args.workers,
    )
    counts = align_folder(args.src, args.dst, config, manifest=args.manifest, progress=not args.quiet)
    print(" ".join(f"{status}={count}" for status, count in sorted(counts.items())))
    return 0


def _train_faces(args):
    from tf_wsoftmax.app.experiment.faces import FaceTrainConfig
    from tf_wsoftmax.app.experiment.faces import run_face_training

    _check_backend(args)
    config = FaceTrainConfig(
        data=args.data,
        loss=args.loss,
        loss_params=_loss_params(args),
        feature_dim=args.feature_dim,
        backbone=args.backbone,
        image_size=args.image_size,
        batch_size=args.batch_size,
        steps=args.steps,
        learning_rate=args.learning_rate,
        decay_every=args.decay_every,
        pretrain_steps=args.pretrain_steps,
        min_images=args.min_images,
        allow_sparse_labels=args.allow_sparse_labels,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        jit_compile=args.jit,
        verification_bins=tuple(args.bin or ()),
        evaluate_every=args.evaluate_every,
    )
    metrics = run_face_training(config, args.out, verbose=not args.quiet, overwrite=args.overwrite)
    print(f"steps={metrics['steps']} identities={metrics['identities']} embedder={args.out}/{metrics['embedder']}")
    _print_warnings(metrics)
    return 0


def _load_model(path):
    """A saved Keras model, or one clear error: a missing file, or a file that is not a model."""
    import os

    import keras

    import tf_wsoftmax.losses  # noqa: F401  (registers the custom layers and losses)
    from tf_wsoftmax.training import MarginClassifier  # noqa: F401  (registers it)

    if not os.path.exists(path):
        raise FileNotFoundError(f"--model {path}: no such file")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as error:  # Keras raises several types for files that are not models
        raise ValueError(f"--model {path} is not a Keras model file (.keras): {type(error).__name__}: {error}")


def _load_embedder(path):
    """A face embedder: images (S, S, 3) -> embeddings (a classifier is refused, naming why)."""
    model = _load_model(path)
    shape = tuple(model.input_shape[1:])
    if model.name == "classifier" or len(shape) != 3 or shape[0] != shape[1] or shape[2] != 3:
        raise ValueError(
            f"--model {path} is not a face embedder (square RGB images -> embeddings): it is "
            f"'{model.name}' taking inputs {shape}. Pass the embedder.keras of a train-faces run."
        )
    return model


def _lfw(args):
    import json

    from tf_wsoftmax.eval import lfw

    embedder = _load_embedder(args.model)
    size = embedder.input_shape[1]
    metrics = lfw.evaluate_lfw(
        lambda batch: embedder(batch, training=False), args.pairs, args.dir, image_size=size,
        flip_fusion=not args.no_flip, far_target=args.far,
    )
    print(
        f"LFW accuracy {100 * metrics['accuracy_mean']:.2f} +- {100 * metrics['accuracy_std']:.2f}% | "
        f"VAL@FAR={args.far:g}: {100 * metrics['val_mean']:.2f} +- {100 * metrics['val_std']:.2f}% | "
        f"AUC {metrics['auc']:.4f} | EER {metrics['eer']:.4f} | {metrics['pairs']} pairs"
    )
    if args.roc:
        lfw.plot_roc(metrics, args.roc)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({k: v for k, v in metrics.items() if k != "roc"}, f, indent=2)
    return 0


def _verify(args):
    import json

    from tf_wsoftmax.eval import verification

    embedder = _load_embedder(args.model)
    results = verification.evaluate_bins(
        lambda batch: embedder(batch, training=False), args.bin, image_size=embedder.input_shape[1],
        flip_fusion=args.flip, far_target=args.far,
    )
    print(verification.markdown(results, args.far))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({name: {k: v for k, v in m.items() if k != "roc"} for name, m in results.items()}, f, indent=2)
    return 0


def _pack(args):
    from tf_wsoftmax.data.folder_packer import pack_folder

    if not args.out.endswith(".rec"):
        raise ValueError(f"the pack's name must end in .rec (its index goes beside it as .idx): {args.out}")
    summary = pack_folder(args.src, args.out, min_images=args.min_images, overwrite=args.overwrite)
    print(f"{args.out}: {summary['images']} images of {summary['identities']} identities (index beside it as .idx)")
    return 0


def _export(args):
    from tf_wsoftmax.export import export_classifier
    from tf_wsoftmax.export import export_embedder

    model = _load_model(args.model)
    kind = args.kind if args.kind != "auto" else ("classifier" if model.name == "classifier" else "embedder")
    if kind == "classifier":
        path = export_classifier(model, args.out, args.name, args.version, args.overwrite)
        print(f"SavedModel written to {path} (classifier; signature serving_default: logits, probabilities, classes)")
    else:
        path = export_embedder(model, args.out, args.name, args.version, args.overwrite)
        print(f"SavedModel written to {path} (embedder; signatures: serving_default, serve_uint8, serve_bytes)")
    return 0


def _bench(args):
    import json

    import keras

    records = []
    jits = {"both": [False, True], "on": [True], "off": [False]}[args.jit]
    _check_backend(args)
    if args.bench == "memory":
        return _bench_memory(args, keras.backend.backend())
    if args.bench == "input":
        return _bench_input(args)
    if keras.backend.backend() != "tensorflow":
        if args.bench != "heads":
            raise ValueError("`bench step` times TensorFlow train steps; only `bench heads` runs on JAX.")
        jits = [True]  # JAX always compiles with XLA
    if args.bench == "heads":
        from tf_wsoftmax.app.bench import heads

        unknown = sorted(set(args.losses or []) - set(heads.HEADS) - {heads.FLOOR})
        if unknown:
            raise ValueError(f"Unknown head(s) for `bench heads`: {', '.join(unknown)}. Known: {', '.join(heads.HEADS)}")
        shapes = [(k, d) for k in args.classes for d in args.dim] if not args.sweep else heads.sweep_shapes(
            [10, 100, 1000, 10575, 100000], [128, 512]
        )
        names = [heads.FLOOR] + [n for n in (args.losses or heads.HEADS) if n != heads.FLOOR]
        for classes, dim in shapes:
            for dtype in args.dtype:
                for jit in jits:
                    for index, rate in enumerate(args.sample_rate):
                        timed = heads.time_heads(
                            names if index == 0 else names[1:], classes, dim, args.batch, dtype, jit,
                            repeats=args.repeats, rounds=args.rounds, sample_rate=rate,
                        )  # the floor (the full product) once per setting
                        records.extend(timed)
                        for record in timed:
                            print(
                                f"{record['loss']} {record['backend']} ({record['device']}) K={classes} d={dim} {dtype} "
                                f"jit={record['jit_compile']} rate={record['sample_rate']:g}: min {record['min_ms']:.2f} "
                                f"ms, median {record['median_ms']:.2f} ms",
                                flush=True,
                            )
        table = heads.markdown(records)
    else:
        from tf_wsoftmax.app.bench import step

        for network in args.networks:
            for jit in jits:
                for loss in args.losses or ["softmax", "wsoftmax", "lsoftmax", "cosface", "arcface", "center"]:
                    records.append(step.time_step(network, loss, args.batch, jit, repeats=args.repeats))
                    print(f"{network} {loss} jit={jit}: {records[-1]['images_per_s']:.1f} images/s", flush=True)
        table = step.markdown(records)
    print(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=2)
    return 0


def _bench_input(args):
    import json

    if not args.data:
        raise ValueError("`bench input` needs --data PACK.rec")
    from tf_wsoftmax.app.bench import input as input_bench

    record = input_bench.bench_input(args.data, args.batch, args.image_size, args.backbone, args.max_images)
    print(input_bench.markdown(record))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(record, f, indent=2)
    return 0


def _bench_memory(args, backend):
    import json

    if backend != "jax":
        raise ValueError("`bench memory` compiles JAX steps: add --backend jax.")
    from tf_wsoftmax.app.bench import memory

    records = []
    for classes in args.classes:
        for dim in args.dim:
            for dtype in args.dtype:
                for name in args.losses or ["wsoftmax"]:
                    for shards in args.model_shards:
                        for rate in args.sample_rate:
                            records.append(memory.analyse_step(
                                name, classes, dim, args.batch, shards, dtype, execute=args.execute, sample_rate=rate
                            ))
                            print(f"{name} K={classes} d={dim} {dtype} model shards={shards} rate={rate:g}: "
                                  f"peak {records[-1]['peak_bytes'] / 2**30:.3f} GiB per device", flush=True)
    print(memory.markdown(records))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=2)
    return 0


def _add_bench_command(commands):
    bench = commands.add_parser("bench", help="benchmarks: `bench heads`, `bench step`, `bench memory`, `bench input`")
    bench.add_argument("bench", choices=["heads", "step", "memory", "input"])
    bench.add_argument("--classes", type=_positive_int, nargs="+", default=[10575])
    bench.add_argument("--dim", type=_positive_int, nargs="+", default=[512])
    bench.add_argument("--batch", type=_positive_int, default=256)
    bench.add_argument("--sweep", action="store_true", help="heads: K in {10..100000} x d in {K-1, 128, 512}")
    bench.add_argument("--dtype", nargs="+", default=["float32"], choices=["float32", "bfloat16", "float16"])
    bench.add_argument("--jit", choices=["both", "on", "off"], default="both", help="XLA on TensorFlow")
    bench.add_argument(
        "--backend", choices=["tensorflow", "jax"],
        help="heads: the Keras backend to time on (default: KERAS_BACKEND); jax times jax.jit(value_and_grad)",
    )
    bench.add_argument("--losses", nargs="+", help="subset of heads / losses")
    bench.add_argument("--networks", nargs="+", default=["mnist", "cifar10"], choices=["mnist", "cifar10", "face"])
    bench.add_argument("--repeats", type=_positive_int, default=20, help="timed calls per head and round")
    bench.add_argument(
        "--rounds", type=_positive_int, default=3,
        help="heads: interleaved rounds (every head once per round); min over all calls, median of the rounds' medians",
    )
    bench.add_argument(
        "--model-shards", type=_positive_int, nargs="+", default=[1, 2, 4, 8],
        help="memory: devices K is split over (the others split the batch)",
    )
    bench.add_argument("--execute", action="store_true", help="memory: also run each step on real arrays")
    bench.add_argument(
        "--sample-rate", type=float, nargs="+", default=[1.0],
        help="heads, memory: Partial FC sample rates in (0, 1] (heads that sample: wsoftmax, normalized_softmax, "
        "cosface, arcface)",
    )
    bench.add_argument("--data", help="input: the .rec pack")
    bench.add_argument("--image-size", type=_positive_int, default=112, help="input: the model's input side")
    bench.add_argument("--backbone", default="mobilenet_v3_small", help="input: the face backbone of the train step")
    bench.add_argument("--max-images", type=_positive_int, default=2000, help="input: images read per measurement")
    bench.add_argument("--json", help="write the records here")
    bench.set_defaults(func=_bench)


def _integer_at_least(minimum):
    """An argparse type: an int >= `minimum` (sizes, counts and periods: 0 or negatives refused)."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer")
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


_positive_int = _integer_at_least(1)
_non_negative_int = _integer_at_least(0)


def _open_unit_interval(text):
    """argparse type: a float strictly between 0 and 1 (NaN and inf refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), got {text}")
    return value


def _add_face_commands(commands):
    align = commands.add_parser("align", help="MTCNN-align an identity-folder tree (resumable)")
    align.add_argument("src")
    align.add_argument("dst")
    align.add_argument("--image-size", type=_positive_int, default=160)
    align.add_argument("--margin", type=_non_negative_int, default=32, help="facenet: 32 for 160, 44 for 182")
    align.add_argument("--selection", choices=["confidence", "largest_central"], default="confidence")
    align.add_argument("--landmarks", action="store_true", help="5-point similarity alignment")
    align.add_argument("--min-confidence", type=float, default=0.9)
    align.add_argument("--workers", type=_positive_int, default=1)
    align.add_argument("--manifest", help="CSV path (default DST/manifest.csv)")
    align.add_argument("--quiet", action="store_true")
    align.set_defaults(func=_align)

    from tf_wsoftmax.declarations import LOSS_DECLARATIONS as LOSSES  # plain data: no Keras for --help
    from tf_wsoftmax.models.specs import FACE_BACKBONES

    faces = commands.add_parser("train-faces", help="train a face embedder on a .rec pack or identity folders")
    faces.add_argument("--data", required=True, help="InsightFace train.rec (with train.idx) or aligned identity folders")
    faces.add_argument("--bin", nargs="+", help="verification sets evaluated during training (lfw.bin ...)")
    faces.add_argument("--evaluate-every", type=_non_negative_int, default=0, help="steps between --bin evaluations (0: at the end)")
    faces.add_argument("--out", required=True)
    faces.add_argument("--loss", default="wsoftmax", choices=list(LOSSES))
    _add_loss_arguments(faces)
    faces.add_argument("--feature-dim", type=_positive_int, default=128)
    faces.add_argument("--backbone", default="mobilenet_v3_small", choices=FACE_BACKBONES)
    faces.add_argument("--image-size", type=_positive_int, default=112, help="input side (InsightFace packs: 112)")
    faces.add_argument("--batch-size", type=_positive_int, default=128)
    faces.add_argument("--steps", type=_positive_int, default=30000)
    faces.add_argument("--learning-rate", type=float, default=0.1)
    faces.add_argument("--decay-every", type=_positive_int, default=10000)
    faces.add_argument(
        "--pretrain-steps", type=_non_negative_int, help="W-Softmax: softmax steps first; default: a quarter of --steps"
    )
    faces.add_argument("--min-images", type=_positive_int, default=1)
    faces.add_argument(
        "--allow-sparse-labels", action="store_true",
        help="accept a pack whose largest label + 1 exceeds its number of images (a head with empty classes)",
    )
    faces.add_argument("--seed", type=int, default=0)
    faces.add_argument("--checkpoint-every", type=_positive_int, default=1000)
    faces.add_argument("--jit", action="store_true")
    faces.add_argument("--backend", choices=["tensorflow", "jax"], help="Keras backend (default: KERAS_BACKEND)")
    faces.add_argument("--quiet", action="store_true")
    faces.add_argument("--overwrite", action="store_true", help="delete a run with a different config in --out first")
    faces.set_defaults(func=_train_faces)

    lfw = commands.add_parser("lfw", help="LFW 10-fold verification of an embedder")
    lfw.add_argument("--pairs", required=True)
    lfw.add_argument("--dir", required=True, help="aligned LFW folder")
    lfw.add_argument("--model", required=True, help="embedder .keras file")
    lfw.add_argument("--far", type=_open_unit_interval, default=1e-3, help="the FAR of VAL@FAR, in (0, 1)")
    lfw.add_argument("--no-flip", action="store_true", help="disable flip fusion")
    lfw.add_argument("--roc", help="write the ROC curve PNG here")
    lfw.add_argument("--json", help="write the metrics here")
    lfw.set_defaults(func=_lfw)

    verify = commands.add_parser("verify", help="verification accuracy of an embedder on InsightFace .bin sets")
    verify.add_argument("--model", required=True, help="embedder .keras file")
    verify.add_argument("--bin", required=True, nargs="+", help="lfw.bin, cfp_fp.bin, agedb_30.bin, ...")
    verify.add_argument("--flip", action="store_true", help="add the mirrored image's embedding (flip fusion)")
    verify.add_argument("--far", type=_open_unit_interval, default=1e-3, help="the FAR of VAL@FAR, in (0, 1)")
    verify.add_argument("--json", help="write the metrics here")
    verify.set_defaults(func=_verify)

    pack = commands.add_parser("pack", help="identity folders -> InsightFace RecordIO pack (.rec + .idx)")
    pack.add_argument("src", help="folder of identity folders of JPEG / PNG images")
    pack.add_argument("out", help="the .rec to write")
    pack.add_argument("--min-images", type=_positive_int, default=1, help="skip identities with fewer images")
    pack.add_argument("--overwrite", action="store_true", help="replace an existing pack (written aside, then renamed)")
    pack.set_defaults(func=_pack)

    export = commands.add_parser("export", help="SavedModel of an embedder or classifier for TF Serving (<out>/<name>/<version>)")
    export.add_argument("--model", required=True, help="embedder or classifier .keras file")
    export.add_argument(
        "--kind", choices=["auto", "embedder", "classifier"], default="auto",
        help="auto: a model named 'classifier' (what `train` saves) is a classifier, else an embedder",
    )
    export.add_argument("--out", required=True)
    export.add_argument("--name", default="faces")
    export.add_argument("--version", type=_positive_int, default=1)
    export.add_argument("--overwrite", action="store_true")
    export.set_defaults(func=_export)


def _add_train_arguments(parser):
    from tf_wsoftmax.declarations import LOSS_DECLARATIONS as LOSSES  # plain data: no Keras for --help
    from tf_wsoftmax.models.specs import BACKBONES
    from tf_wsoftmax.models.specs import DEFAULT_BACKBONES

    parser.add_argument("--dataset", default="digits", choices=sorted(DEFAULT_BACKBONES))
    parser.add_argument("--data-dir", help="folder with IDX / CIFAR files (also tfds' data_dir)")
    parser.add_argument("--classes", type=_positive_int, help="keep only the first K classes")
    parser.add_argument("--no-download", action="store_true", help="never let tfds download")
    parser.add_argument("--loss", default="wsoftmax", choices=list(LOSSES))
    parser.add_argument(
        "--pretrain-epochs", type=_non_negative_int,
        help="W-Softmax: softmax epochs first (Algorithm 1), in the same run; default: a quarter of --epochs",
    )
    _add_loss_arguments(parser)
    parser.add_argument("--backbone", choices=sorted(BACKBONES), help="default: by dataset")
    parser.add_argument("--feature-dim", type=_positive_int, help="width of the FC feature layer (default: the backbone's)")
    parser.add_argument("--epochs", type=_positive_int, default=20)
    parser.add_argument("--batch-size", type=_positive_int, default=50)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--augment", action="store_true", help="pad-crop + flip")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jit", action="store_true", help="TensorFlow: XLA-compile the train step (JAX always compiles)")
    parser.add_argument(
        "--backend", choices=["tensorflow", "jax"],
        help="Keras backend (default: KERAS_BACKEND): tensorflow trains with TrainStep over tf.data, "
        "jax with MarginClassifier.fit over NumPy batches (no TensorFlow needed)",
    )
    parser.add_argument("--checkpoint-every", type=_positive_int, default=500)
    parser.add_argument("--quiet", action="store_true")


def build_parser():
    """Returns the argparse parser of `tf-wsoftmax`."""
    parser = argparse.ArgumentParser(prog="tf-wsoftmax", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="softmax vs W-Softmax on scikit-learn's bundled digits (offline)"
    )
    demo.add_argument("--epochs", type=_positive_int, default=20)
    demo.add_argument("--pretrain-epochs", type=_non_negative_int, default=5)
    demo.add_argument("--alpha", type=float, default=1.0)
    demo.add_argument("--bias-gradient", choices=["stop", "full"], default="stop")
    demo.add_argument("--feature-dim", type=_positive_int, default=9, help="feature layer width (K - 1 = 9 by default)")
    demo.add_argument("--batch-size", type=_positive_int, default=50)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--json", help="also write the results to this JSON file")
    demo.set_defaults(func=_demo)

    train = commands.add_parser("train", help="train one configuration (resumable); writes OUT/metrics.json")
    _add_train_arguments(train)
    train.add_argument("--out", required=True, help="output folder")
    train.add_argument(
        "--overwrite", action="store_true", help="delete a run with a different config in --out first"
    )
    train.set_defaults(func=_train)

    sweeps = {
        "units-sweep": "accuracy and FC memory vs feature units (Fig. 4)",
        "alpha-sweep": "per-class mean angles, softmax vs W-Softmax alphas (Fig. 5)",
        "class-sweep": "softmax vs W-Softmax on the first K classes (Table 4)",
        "features-2d": "LeNets++ 2-D features: softmax / center / contrastive-center / W-Softmax",
        "gradient-modes": "W-Softmax bias_gradient 'stop' vs 'full' (+ fixed simplex) over alphas and seeds",
    }
    for name, help_text in sweeps.items():
        sweep = commands.add_parser(name, help=help_text)
        _add_train_arguments(sweep)
        sweep.add_argument("--out", default=f"runs/{name}", help="sweep folder")
        sweep.add_argument("--feature-dims", type=_positive_int, nargs="+", default=[2, 5, 9, 32, 90, 900])
        default_alphas = [0.0, 0.5, 1.0, 1.5] if name == "gradient-modes" else [0.5, 1.0, 1.5]
        sweep.add_argument("--alphas", type=float, nargs="+", default=default_alphas)
        sweep.add_argument("--classes-list", type=_positive_int, nargs="+", default=[5, 6, 7, 8, 9, 10])
        if name == "gradient-modes":
            sweep.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
            sweep.add_argument(
                "--groups", nargs="+", default=["softmax", "stop", "full", "simplex"],
                choices=["softmax", "stop", "full", "simplex"], help="rows besides the alpha-0 baseline",
            )
        sweep.set_defaults(func=_sweep)
    tables = commands.add_parser(
        "paper-tables", help="Table 1, Fig. 5 angles and Table 4 (MNIST / Fashion-MNIST) sized to a time budget"
    )
    tables.add_argument("--dataset", default="mnist", choices=["mnist", "fashion_mnist"])
    tables.add_argument("--data-dir", required=True, help="folder of the IDX files")
    tables.add_argument("--out", required=True, help="paper_tables.json / .md and fig5_angles.png go here")
    tables.add_argument("--runs-dir", default="runs/paper_tables", help="the run folders (resumable)")
    tables.add_argument("--budget-minutes", type=float, default=10.0, help="wall time for everything, timing included")
    tables.add_argument("--max-epochs", type=_positive_int, default=100)
    tables.add_argument("--seed", type=int, default=0)
    tables.add_argument("--tiny", action="store_true", help="smoke test: backbone tiny, 1 epoch, Table 4 at K = 5")
    tables.add_argument("--backend", choices=["tensorflow", "jax"], help="Keras backend (default: KERAS_BACKEND)")
    tables.set_defaults(func=_paper_tables)
    _add_face_commands(commands)
    _add_bench_command(commands)
    return parser


def main(argv=None):
    """Entry point of the `tf-wsoftmax` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError, FloatingPointError) as error:  # bad input, unreadable / unwritable files: one line
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
