"""Face-embedding training on an InsightFace pack (`.rec`) or an aligned identity-folder tree."""

import dataclasses
import json
import math
import os
import time

import keras

from tf_wsoftmax.app.experiment.config import check_loss_params
from tf_wsoftmax.app.experiment.config import check_sgd_settings
from tf_wsoftmax.app.experiment.run import hardware_description
from tf_wsoftmax.app.experiment.run import write_json
from tf_wsoftmax.app.experiment.run_folder import folder_loop_config
from tf_wsoftmax.app.experiment.run_folder import check_run_folder
from tf_wsoftmax.app.experiment.run_folder import start_run_folder
from tf_wsoftmax.data.face_folders import face_epoch_datasets
from tf_wsoftmax.data.face_folders import list_identity_folders
from tf_wsoftmax.data.recordio import face_pack_epoch_datasets
from tf_wsoftmax.data.recordio import pack_labels
from tf_wsoftmax.eval import collapse_warning
from tf_wsoftmax.eval import mean_pairwise_cosine
from tf_wsoftmax.losses import build_loss
from tf_wsoftmax.models import build_face_embedder
from tf_wsoftmax.training import LazyColumnSGD
from tf_wsoftmax.training import paper_kernel_regularizer
from tf_wsoftmax.training import train

EMBEDDER_FILE = "embedder.keras"
VERIFICATION_FILE = "verification.json"
RESUMABLE_KEYS = ("steps", "checkpoint_every", "jit_compile", "verification_bins", "evaluate_every")


@dataclasses.dataclass(frozen=True)
class FaceTrainConfig:
    """Face training; defaults are the paper's CASIA-WebFace schedule.

    Args:
        data: an InsightFace RecordIO pack (`train.rec`, its `.idx` beside
            it; e.g. CASIA-WebFace's faces_webface_112x112) or an aligned
            identity-folder tree (output of `tf-wsoftmax align`).
        loss: any loss of the registry (`tf_wsoftmax.losses.LOSSES`).
            Defaults to "wsoftmax".
        loss_params: the loss's hyperparameters by registry name (unset:
            the registry's defaults, e.g. CosFace / ArcFace s = 64).
            `sample_rate` < 1 trains with Partial FC (the normalised heads;
            `LazyColumnSGD`; docs/scale.md). Defaults to {}.
        feature_dim: embedding width. Defaults to 128.
        backbone: a `FACE_BACKBONES` name (keras-cv). Defaults to "mobilenet_v3_small".
        image_size: Defaults to 112 (InsightFace's crops; folders aligned at
            another size are resized).
        batch_size: Defaults to 128.
        steps: total steps. Defaults to 30,000.
        learning_rate: Defaults to 0.1, divided by 10 every `decay_every` steps.
        decay_every: Defaults to 10,000.
        momentum: Defaults to 0.9.
        weight_decay: Defaults to 5e-4.
        pretrain_steps: W-Softmax only: softmax steps first (Algorithm 1, the
            head's alpha warm-up). Defaults to None: a quarter of `steps`.
        min_images: identity folders with fewer images are skipped (folders
            only: a pack is used as packed). Defaults to 1.
        seed: Defaults to 0.
        checkpoint_every: Defaults to 1,000.
        jit_compile: Defaults to False.
        verification_bins: InsightFace `.bin` sets (lfw.bin, cfp_fp.bin,
            agedb_30.bin, ...) evaluated every `evaluate_every` steps and at
            the end. Defaults to ().
        evaluate_every: steps between evaluations (0: only at the end).
            Defaults to 0.
        allow_sparse_labels: accept a pack whose largest label + 1 (the
            head's classes) exceeds its number of images. Defaults to False.
    """

    data: str
    loss: str = "wsoftmax"
    loss_params: dict = dataclasses.field(default_factory=dict)
    feature_dim: int = 128
    backbone: str = "mobilenet_v3_small"
    image_size: int = 112
    batch_size: int = 128
    steps: int = 30_000
    learning_rate: float = 0.1
    decay_every: int = 10_000
    momentum: float = 0.9
    weight_decay: float = 5e-4
    pretrain_steps: int = None
    min_images: int = 1
    seed: int = 0
    checkpoint_every: int = 1000
    jit_compile: bool = False
    verification_bins: tuple = ()
    evaluate_every: int = 0
    allow_sparse_labels: bool = False

    def __post_init__(self):
        object.__setattr__(self, "verification_bins", tuple(self.verification_bins))
        for path in self.verification_bins:
            if not os.path.exists(path):
                raise FileNotFoundError(f"Verification set {path} not found")
        positive = ("feature_dim", "image_size", "batch_size", "decay_every", "min_images", "checkpoint_every")
        minimums = dict.fromkeys(positive, 1)
        for name, minimum in (minimums | {"evaluate_every": 0}).items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"`{name}` must be an int >= {minimum}. Received: {name}={value}")
        check_sgd_settings(self.learning_rate, self.momentum, self.weight_decay)
        if self.steps < 1 or not 0 <= (self.pretrain_steps or 0) <= self.steps:
            raise ValueError("`steps` must be >= 1 and `pretrain_steps` in [0, steps].")
        if self.pretrain_steps and self.loss != "wsoftmax":
            raise ValueError("`pretrain_steps` (softmax pre-training) applies to loss='wsoftmax' only.")
        check_loss_params(self.loss, self.loss_params, "pretrain_steps")

    @property
    def softmax_steps(self):
        """Steps of Algorithm 1's softmax phase (0 unless loss='wsoftmax')."""
        if self.loss != "wsoftmax":
            return 0
        return self.steps // 4 if self.pretrain_steps is None else self.pretrain_steps


def face_learning_rate(config):
    """lr divided by 10 every `decay_every` steps (a staircase)."""
    return keras.optimizers.schedules.ExponentialDecay(
        config.learning_rate, config.decay_every, 0.1, staircase=True
    )


def run_face_training(config, out_dir, verbose=True, overwrite=False):
    """Trains a face embedder with any loss of the library; resumable.

    Writes checkpoints (out/ckpt), TensorBoard logs, `out/embedder.keras`
    (the embedding model alone, for `tf-wsoftmax export` and `lfw`) and
    `out/metrics.json`.

    Returns:
        The metrics dict.
    """
    check_run_folder(out_dir, dataclasses.asdict(config), RESUMABLE_KEYS, overwrite)  # nothing written yet
    started = time.time()
    labels, identities, data = training_data(config)
    keras.utils.set_random_seed(config.seed)
    embedder = build_face_embedder(
        config.feature_dim, config.image_size, config.backbone, paper_kernel_regularizer(config.weight_decay)
    )
    params = dict(config.loss_params)
    if config.loss == "wsoftmax":
        params["alpha_warmup_steps"] = config.softmax_steps  # Algorithm 1 in the same run
    head, feature_loss = build_loss(config.loss, identities, **params)
    # Partial FC (`sample_rate` < 1 in loss_params): unsampled class columns keep value and momentum.
    sgd = LazyColumnSGD if getattr(head, "samples_classes", False) else keras.optimizers.SGD
    optimizer = sgd(face_learning_rate(config), momentum=config.momentum)
    steps_per_epoch = len(labels) // config.batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"{len(labels)} images are fewer than one batch of {config.batch_size}.")
    epochs = math.ceil(config.steps / steps_per_epoch)

    start_run_folder(out_dir, dataclasses.asdict(config), RESUMABLE_KEYS, overwrite)  # everything checked
    tracker = VerificationTracker(embedder, config, out_dir, verbose)
    loop = folder_loop_config(
        out_dir, epochs, config.checkpoint_every, config.jit_compile, verbose, max_steps=config.steps,
        step_callback=tracker if config.verification_bins else None, step_callback_every=config.evaluate_every,
    )
    result = train(embedder, head, optimizer, data, loop, feature_loss=feature_loss)
    embedder.save(os.path.join(out_dir, EMBEDDER_FILE))
    if config.verification_bins and tracker.last_step != result["step"]:
        tracker(result["step"])
    last = result["history"][-1] if result["history"] else {}
    sample, _ = next(iter(data(0)))
    embeddings = keras.ops.convert_to_numpy(embedder(sample, training=False))
    metrics = {
        "warnings": [w for w in [collapse_warning(embeddings)] if w],
        "embedding_mean_pairwise_cosine": mean_pairwise_cosine(embeddings),
        "steps": result["step"],
        "identities": identities,
        "images": int(len(labels)),
        "last_epoch": last,
        "embedder": os.path.join(out_dir, EMBEDDER_FILE),
        "seconds_this_call": round(time.time() - started, 1),
        "hardware": hardware_description(),
        "config": dataclasses.asdict(config),
    }
    if config.verification_bins:
        metrics["verification"] = tracker.state
    write_json(os.path.join(out_dir, "metrics.json"), metrics)
    return metrics


def training_data(config):
    """(labels, number of identities, epoch -> dataset) from a `.rec` pack or identity folders."""
    if config.data.endswith(".rec"):
        if config.min_images != 1:
            raise ValueError(
                "`min_images` selects identity folders; a .rec pack is used as packed (tf-wsoftmax pack --min-images)."
            )
        labels, identities = pack_labels(config.data, config.allow_sparse_labels)
        data = face_pack_epoch_datasets(config.data, config.batch_size, config.image_size, config.seed)
        source = "pack"
    else:
        paths, labels, names = list_identity_folders(config.data, config.min_images)
        identities = len(names)
        data = face_epoch_datasets(paths, labels, config.batch_size, config.image_size, config.seed)
        source = f"identity folder(s) with >= {config.min_images} images"
    if identities < 2:
        raise ValueError(f"{config.data} has {identities} {source}; a classifier needs at least 2 identities.")
    return labels, identities, data


class VerificationTracker:
    """Evaluates the `.bin` sets at a step; keeps the latest and best-so-far results (resumable).

    Called by the training loop every `evaluate_every` steps (as InsightFace's
    verification callback); returns the accuracies for TensorBoard
    ("verification/<set>"). The state is kept in out/verification.json, so a
    resumed run keeps its best-so-far.
    """

    def __init__(self, embedder, config, out_dir, verbose):
        self.embedder, self.config, self.verbose = embedder, config, verbose
        self.path = os.path.join(out_dir, VERIFICATION_FILE)
        self.state = {"history": [], "best": {}}
        if os.path.exists(self.path):
            with open(self.path) as f:
                self.state = json.load(f)
        self.last_step = None

    def __call__(self, step):
        from tf_wsoftmax.eval.verification import evaluate_bins

        results = evaluate_bins(
            lambda batch: self.embedder(batch, training=False), self.config.verification_bins, self.config.image_size
        )
        row = {"step": step}
        for name, metrics in results.items():
            row[name] = {k: metrics[k] for k in ("accuracy_mean", "accuracy_std", "val_mean", "auc", "eer")}
            best = self.state["best"].get(name)
            if best is None or metrics["accuracy_mean"] > best["accuracy_mean"]:
                self.state["best"][name] = {"accuracy_mean": metrics["accuracy_mean"], "step": step}
        self.state["history"].append(row)
        self.state["latest"] = row
        write_json(self.path, self.state)
        self.last_step = step
        if self.verbose:
            shown = ", ".join(f"{name} {100 * row[name]['accuracy_mean']:.2f}%" for name in results)
            print(f"step {step}: verification {shown}")
        return {f"verification/{name}": row[name]["accuracy_mean"] for name in results}
