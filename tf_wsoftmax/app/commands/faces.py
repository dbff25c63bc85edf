"""The face pipeline: `align`, `pack`, `train-faces`, `lfw`, `verify` and `export`."""

import argparse

from tf_wsoftmax.app.commands.experiments import LOSS
from tf_wsoftmax.app.commands.experiments import backend_argument
from tf_wsoftmax.app.commands.experiments import print_warnings
from tf_wsoftmax.app.commands.loss_flags import check_loss_flags
from tf_wsoftmax.app.commands.loss_flags import loss_arguments
from tf_wsoftmax.app.commands.loss_flags import loss_params
from tf_wsoftmax.app.commands.spec import Command
from tf_wsoftmax.app.commands.spec import UsageError
from tf_wsoftmax.app.commands.spec import arg
from tf_wsoftmax.app.commands.spec import integer_at_least
from tf_wsoftmax.app.commands.spec import non_negative_int
from tf_wsoftmax.app.commands.spec import open_unit_interval
from tf_wsoftmax.app.commands.spec import positive_float
from tf_wsoftmax.app.commands.spec import positive_int
from tf_wsoftmax.app.commands.spec import unit_interval
from tf_wsoftmax.models.specs import FACE_BACKBONES

# Shared by `lfw` and `verify`: one default for both, as InsightFace's verification (flip fusion on).
FLIP = arg(
    "--flip", action=argparse.BooleanOptionalAction, default=True,
    help="flip fusion: add the embedding of the mirrored image, as InsightFace's verification does; "
    "--no-flip scores the image alone",
)
FAR = arg("--far", type=open_unit_interval, default=1e-3, help="the false accept rate of VAL@FAR, in (0, 1)")
EMBEDDER = arg("--model", required=True, exists="file",
               help="the embedder .keras file (a train-faces run's embedder.keras)")
JSON = arg("--json", help="also write the metrics to this JSON file (default: none)")


def _align_config(args):
    from tf_wsoftmax.data.face_align import AlignConfig

    return AlignConfig(
        image_size=args.image_size, margin=args.margin, selection=args.selection, landmarks=args.landmarks,
        min_confidence=args.min_confidence, workers=args.workers,
    )


def _run_align(config, args):
    from tf_wsoftmax.data.face_align import align_folder

    counts = align_folder(args.src, args.dst, config, manifest=args.manifest, progress=not args.quiet)
    print(" ".join(f"{status}={count}" for status, count in sorted(counts.items())))
    return 0


ALIGN = Command(
    name="align",
    help="MTCNN-align an identity-folder tree (resumable)",
    arguments=(
        arg("src", exists="folder", help="the identity folders of raw images (SRC/<identity>/<image>)"),
        arg("dst", help="where the aligned PNGs go (DST/<identity>/<image>.png)"),
        arg("--image-size", type=integer_at_least(16), default=160, help="side of the aligned square"),
        arg("--margin", type=non_negative_int, default=32,
            help="pixels around the box (facenet: 32 for 160, 44 for 182)"),
        arg("--selection", choices=["confidence", "largest_central"], default="confidence",
            help="which face of several: the most confident, or the largest near the centre"),
        arg("--landmarks", action="store_true", help="5-point similarity alignment instead of the box crop"),
        arg("--min-confidence", type=unit_interval, default=0.9, help="faces below this MTCNN confidence are skipped"),
        arg("--workers", type=positive_int, default=1, help="processes"),
        arg("--manifest", help="the CSV of outcomes, one row per input (default: DST/manifest.csv)"),
        arg("--quiet", action="store_true", help="no progress bar"),
    ),
    config=_align_config,
    run=_run_align,
)


def _check_pack(args):
    if not args.out.endswith(".rec"):
        raise UsageError(f"OUT {args.out}: the pack's name must end in .rec (its index goes beside it as .idx)")


def _run_pack(config, args):
    from tf_wsoftmax.data.folder_packer import pack_folder

    summary = pack_folder(args.src, args.out, min_images=args.min_images, overwrite=args.overwrite)
    print(f"{args.out}: {summary['images']} images of {summary['identities']} identities (index beside it as .idx)")
    return 0


PACK = Command(
    name="pack",
    help="identity folders -> InsightFace RecordIO pack (.rec + .idx)",
    arguments=(
        arg("src", exists="folder", help="folder of identity folders of JPEG / PNG images"),
        arg("out", help="the .rec to write (its .idx goes beside it)"),
        arg("--min-images", type=positive_int, default=1, help="skip identities with fewer images"),
        arg("--overwrite", action="store_true", help="replace an existing pack (written aside, then renamed)"),
    ),
    checks=(_check_pack,),
    run=_run_pack,
    framework=False,
)


def _check_train_faces(args):
    check_loss_flags(args)
    if args.pretrain_steps is not None:
        if args.pretrain_steps > args.steps:
            raise UsageError(f"--pretrain-steps {args.pretrain_steps} is more than --steps {args.steps}")
        if args.pretrain_steps and args.loss != "wsoftmax":
            raise UsageError(
                f"--pretrain-steps (softmax pre-training) applies to --loss wsoftmax only, not {args.loss}"
            )
    if args.evaluate_every and not args.bin:
        raise UsageError("--evaluate-every needs the verification sets to evaluate: --bin lfw.bin ...")


def _train_faces_config(args):
    from tf_wsoftmax.app.experiment.faces import FaceTrainConfig

    return FaceTrainConfig(
        data=args.data,
        loss=args.loss,
        loss_params=loss_params(args),
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


def _run_train_faces(config, args):
    from tf_wsoftmax.app.experiment.faces import run_face_training

    metrics = run_face_training(config, args.out, verbose=not args.quiet, overwrite=args.overwrite)
    print(f"steps={metrics['steps']} identities={metrics['identities']} embedder={args.out}/{metrics['embedder']}")
    print_warnings(metrics)
    return 0


TRAIN_FACES = Command(
    name="train-faces",
    help="train a face embedder on a .rec pack or identity folders (resumable)",
    arguments=(
        arg("--data", required=True, exists="path",
            help="an InsightFace train.rec (its train.idx beside it) or a folder of aligned identity folders"),
        arg("--bin", nargs="+", exists="file", help="verification sets evaluated during training (lfw.bin ...; "
            "default: none)"),
        arg("--evaluate-every", type=non_negative_int, default=0,
            help="steps between --bin evaluations (0: at the end only)"),
        arg("--out", required=True, help="the run folder (resumable)"),
        LOSS,
        *loss_arguments(presets=False),
        arg("--feature-dim", type=positive_int, default=128, help="embedding width"),
        arg("--backbone", default="mobilenet_v3_small", choices=list(FACE_BACKBONES),
            help="the face network (keras-cv)"),
        arg("--image-size", type=positive_int, default=112, help="input side (InsightFace packs: 112)"),
        arg("--batch-size", type=positive_int, default=128, help="batch size"),
        arg("--steps", type=positive_int, default=30000, help="training steps (more on a finished run extend it)"),
        arg("--learning-rate", type=positive_float, default=0.1,
            help="SGD learning rate, divided by 10 every --decay-every steps"),
        arg("--decay-every", type=positive_int, default=10000, help="steps between learning-rate divisions by 10"),
        arg("--pretrain-steps", type=non_negative_int,
            help="W-Softmax: softmax steps first (Algorithm 1) (default: a quarter of --steps; 0 disables)"),
        arg("--min-images", type=positive_int, default=1,
            help="skip identity folders with fewer images (folders only: a pack is used as packed)"),
        arg("--allow-sparse-labels", action="store_true",
            help="accept a pack whose largest label + 1 exceeds its number of images (a head with empty classes)"),
        arg("--seed", type=int, default=0, help="seed of the initialisation and the batch order"),
        arg("--checkpoint-every", type=positive_int, default=1000, help="steps between checkpoints"),
        arg("--jit", action="store_true", help="TensorFlow: XLA-compile the train step (JAX always compiles)"),
        backend_argument(),
        arg("--quiet", action="store_true", help="no progress bar"),
        arg("--overwrite", action="store_true",
            help="a run of another config in --out: delete that run's files (only the files tf_wsoftmax wrote; "
            "anything else there is refused) and start over"),
    ),
    checks=(_check_train_faces,),
    config=_train_faces_config,
    run=_run_train_faces,
)


def load_model(path):
    """A saved Keras model, or one clear error: a file that is not a model.

    Args:
        path: the .keras file (its existence was checked with the flags).

    Returns:
        The model, uncompiled.
    """
    import keras

    import tf_wsoftmax.losses  # noqa: F401  (registers the custom layers and losses)
    from tf_wsoftmax.training import MarginClassifier  # noqa: F401  (registers it)

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as error:  # Keras raises several types for files that are not models
        raise ValueError(f"--model {path} is not a Keras model file (.keras): {type(error).__name__}: {error}")


def load_embedder(path):
    """A face embedder: images (S, S, 3) -> embeddings (a classifier is refused, naming why)."""
    model = load_model(path)
    shape = tuple(model.input_shape[1:])
    if model.name == "classifier" or len(shape) != 3 or shape[0] != shape[1] or shape[2] != 3:
        raise ValueError(
            f"--model {path} is not a face embedder (square RGB images -> embeddings): it is "
            f"'{model.name}' taking inputs {shape}. Pass the embedder.keras of a train-faces run."
        )
    return model


def _write_json(path, metrics):
    import json

    with open(path, "w") as f:
        json.dump(metrics, f, indent=2)


def _run_lfw(config, args):
    from tf_wsoftmax.eval import lfw

    embedder = load_embedder(args.model)
    metrics = lfw.evaluate_lfw(
        lambda batch: embedder(batch, training=False), args.pairs, args.dir, image_size=embedder.input_shape[1],
        flip_fusion=args.flip, far_target=args.far,
    )
    print(
        f"LFW accuracy {100 * metrics['accuracy_mean']:.2f} +- {100 * metrics['accuracy_std']:.2f}% | "
        f"VAL@FAR={args.far:g}: {100 * metrics['val_mean']:.2f} +- {100 * metrics['val_std']:.2f}% | "
        f"AUC {metrics['auc']:.4f} | EER {metrics['eer']:.4f} | {metrics['pairs']} pairs"
    )
    if args.roc:
        lfw.plot_roc(metrics, args.roc)
    if args.json:
        _write_json(args.json, {k: v for k, v in metrics.items() if k != "roc"})
    return 0


LFW = Command(
    name="lfw",
    help="LFW 10-fold verification of an embedder (pairs.txt and an aligned LFW folder)",
    arguments=(
        arg("--pairs", required=True, exists="file", help="LFW's pairs.txt"),
        arg("--dir", required=True, exists="folder", help="the aligned LFW folder (DIR/<name>/<name>_0001.png ...)"),
        EMBEDDER,
        FAR,
        FLIP,
        arg("--roc", help="write the ROC curve PNG here (default: none)"),
        JSON,
    ),
    run=_run_lfw,
)


def _check_verify(args):
    from tf_wsoftmax.eval.verification import set_names  # NumPy only: the same file twice, however spelt

    try:
        set_names(args.bin)
    except ValueError as error:
        raise UsageError(f"--bin: {error}") from None


def _run_verify(config, args):
    from tf_wsoftmax.eval import verification

    embedder = load_embedder(args.model)
    results = verification.evaluate_bins(
        lambda batch: embedder(batch, training=False), args.bin, image_size=embedder.input_shape[1],
        flip_fusion=args.flip, far_target=args.far, max_total_pixels=args.max_set_pixels,
    )
    print(verification.markdown(results, args.far))
    if args.json:
        _write_json(args.json, {name: {k: v for k, v in m.items() if k != "roc"} for name, m in results.items()})
    return 0


VERIFY = Command(
    name="verify",
    help="verification accuracy of an embedder on InsightFace .bin sets",
    arguments=(
        EMBEDDER,
        arg("--bin", required=True, nargs="+", exists="file", help="lfw.bin, cfp_fp.bin, agedb_30.bin, ..."),
        FLIP,
        FAR,
        arg("--max-set-pixels", type=positive_int,
            help="decoded pixels one set may hold, counted from the image headers before decoding (default: "
            "400000000, 1.2 GB of RGB: tf_wsoftmax.data.verification_bin.MAX_SET_PIXELS)"),
        JSON,
    ),
    checks=(_check_verify,),
    run=_run_verify,
)


def _run_export(config, args):
    from tf_wsoftmax.export import export_classifier
    from tf_wsoftmax.export import export_embedder

    model = load_model(args.model)
    kind = args.kind if args.kind != "auto" else ("classifier" if model.name == "classifier" else "embedder")
    if kind == "classifier":
        path = export_classifier(model, args.out, args.name, args.version, args.overwrite)
        print(f"SavedModel written to {path} (classifier; signature serving_default: logits, probabilities, classes)")
    else:
        path = export_embedder(model, args.out, args.name, args.version, args.overwrite)
        print(f"SavedModel written to {path} (embedder; signatures: serving_default, serve_uint8, serve_bytes)")
    return 0


def _check_export(args):
    if not args.name or args.name in (".", "..") or "/" in args.name or "\\" in args.name:
        raise UsageError(f"--name {args.name!r}: a model name is one folder name (OUT/NAME/VERSION)")


EXPORT = Command(
    name="export",
    help="SavedModel of an embedder or classifier for TF Serving (OUT/NAME/VERSION)",
    arguments=(
        arg("--model", required=True, exists="file", help="the embedder or classifier .keras file"),
        arg("--kind", choices=["auto", "embedder", "classifier"], default="auto",
            help="auto: a model named 'classifier' (what `train` saves) is a classifier, else an embedder"),
        arg("--out", required=True, help="the model base path of TF Serving"),
        arg("--name", default="faces", help="the model's name: its folder under --out"),
        arg("--version", type=positive_int, default=1, help="the version folder under --out/--name"),
        arg("--overwrite", action="store_true", help="replace an existing version"),
    ),
    checks=(_check_export,),
    run=_run_export,
)

COMMANDS = (ALIGN, PACK, TRAIN_FACES, LFW, VERIFY, EXPORT)
