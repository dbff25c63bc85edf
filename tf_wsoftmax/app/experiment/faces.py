"""Face-embedding training on an InsightFace pack (`.rec`) or an aligned identity-folder tree."""

import dataclasses
import math
import os

import keras
import numpy as np

from tf_wsoftmax.app.experiment.config import check_classes
from tf_wsoftmax.app.experiment.config import check_loss_params
from tf_wsoftmax.app.experiment.config import check_sgd_settings
from tf_wsoftmax.app.experiment.config import identity_loss_params
from tf_wsoftmax.app.experiment.run import TIMING_FILE
from tf_wsoftmax.app.experiment.run import hardware_description
from tf_wsoftmax.app.experiment.run import timing_record
from tf_wsoftmax.data import folder_face_batches
from tf_wsoftmax.data import pack_face_batches
from tf_wsoftmax.eval import collapse_warning
from tf_wsoftmax.eval import mean_pairwise_cosine
from tf_wsoftmax.losses import build_loss
from tf_wsoftmax.models import build_face_embedder
from tf_wsoftmax.training import LazyColumnSGD
from tf_wsoftmax.training import MarginClassifier
from tf_wsoftmax.training import RunFolder
from tf_wsoftmax.training import StepHook
from tf_wsoftmax.training import fit_run
from tf_wsoftmax.training import paper_kernel_regularizer

EMBEDDER_FILE = "embedder.keras"
METRICS_FILE = "metrics.json"
VERIFICATION_FILE = "verification.json"
# How long it trains, how often it is saved and what is measured on the way, not what is trained.
RESUMABLE_KEYS = ("steps", "checkpoint_every", "jit_compile", "verification_bins", "evaluate_every", "data")


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


def training_batches(config):
    """(FaceBatches, number of identities, a description of the source) from a `.rec` pack or identity folders."""
    if config.data.endswith(".rec"):
        if config.min_images != 1:
            raise ValueError(
                "`min_images` selects identity folders; a .rec pack is used as packed (tf-wsoftmax pack --min-images)."
            )
        batches, identities = pack_face_batches(
            config.data, config.batch_size, config.image_size, config.seed, allow_sparse_labels=config.allow_sparse_labels
        )
        source = "pack"
    else:
        batches, identities = folder_face_batches(
            config.data, config.batch_size, config.image_size, config.seed, min_images=config.min_images
        )
        source = f"identity folder(s) with >= {config.min_images} images"
    if identities < 2:
        raise ValueError(f"{config.data} has {identities} {source}; a classifier needs at least 2 identities.")
    return batches, identities


def face_identity(config, batches, identities, softmax_steps):
    """The identity of a face run: the resolved config, the data's fingerprint and the backend."""
    resolved = dataclasses.asdict(config)
    params = build_loss_params(config, softmax_steps)
    from tf_wsoftmax.losses import get_loss

    resolved.update(
        loss_params=identity_loss_params(config.loss, get_loss(config.loss).resolve(params)),
        softmax_steps=softmax_steps,
        verification_bins=list(config.verification_bins),
    )
    del resolved["pretrain_steps"]
    return {
        **resolved,
        "dataset": {"identities": identities, **batches.fingerprint()},
        "backend": keras.backend.backend(),
    }


def build_loss_params(config, softmax_steps):
    """The loss hyperparameters of the run (W-Softmax: the softmax phase as the head's warm-up)."""
    params = dict(config.loss_params)
    if config.loss == "wsoftmax":
        params["alpha_warmup_steps"] = softmax_steps  # Algorithm 1 in the same run
    return params


def run_face_training(config, out_dir, verbose=True, overwrite=False):
    """Trains a face embedder with any loss of the library; resumable, on every backend.

    The run folder holds config.json (the identity), checkpoint.zip (the
    whole run: `fit_run`) and what is derived from it: history.jsonl,
    verification.json (every evaluation of the `.bin` sets, kept in the
    checkpoint with the weights it measured), `embedder.keras` (the embedding
    model alone, for `tf-wsoftmax export` and `lfw`), metrics.json and
    timing.json.

    Returns:
        The metrics dict.
    """
    batches, identities = training_batches(config)
    check_classes(config.loss, config.loss_params, identities)
    with RunFolder(out_dir) as folder:
        saved = folder.saved_identity()
        softmax_steps = config.softmax_steps
        if config.pretrain_steps is None and saved is not None and isinstance(saved.get("softmax_steps"), int):
            softmax_steps = saved["softmax_steps"]  # decided when the run started
        identity = face_identity(config, batches, identities, softmax_steps)
        folder.claim(identity, RESUMABLE_KEYS, overwrite)

        keras.utils.set_random_seed(config.seed)
        embedder = build_face_embedder(
            config.feature_dim, config.image_size, config.backbone, paper_kernel_regularizer(config.weight_decay)
        )
        head, feature_loss = build_loss(config.loss, identities, **build_loss_params(config, softmax_steps))
        # Partial FC (`sample_rate` < 1 in loss_params): unsampled class columns keep value and momentum.
        sgd = LazyColumnSGD if getattr(head, "samples_classes", False) else keras.optimizers.SGD
        model = MarginClassifier(embedder, head, feature_loss)
        jit = config.jit_compile if keras.backend.backend() == "tensorflow" else "auto"
        model.compile(optimizer=sgd(face_learning_rate(config), momentum=config.momentum), metrics=["accuracy"],
                      jit_compile=jit)
        hooks = []
        if config.verification_bins and config.evaluate_every:
            hooks.append(StepHook("verification", config.evaluate_every, verification_hook(embedder, config)))
        epochs = math.ceil(config.steps / batches.batches_per_epoch)
        state = fit_run(
            model, batches, folder, epochs, identity, resumable=RESUMABLE_KEYS, max_steps=config.steps,
            records=(METRICS_FILE, TIMING_FILE, EMBEDDER_FILE, VERIFICATION_FILE),
            checkpoint_every=config.checkpoint_every, hooks=hooks, verbose=2 if verbose else 0,
        )
        folder.save_with(EMBEDDER_FILE, embedder.save)
        rows = state["hooks"].get("verification", [])
        if config.verification_bins and (not rows or rows[-1]["step"] != state["step"]):
            rows = rows + [dict(verification_hook(embedder, config)(state["step"]), step=state["step"])]
        sample = batches.window(0, 0, 1)[0][0]
        embeddings = keras.ops.convert_to_numpy(embedder(sample, training=False))
        metrics = {
            "warnings": [w for w in [collapse_warning(embeddings)] if w],
            "embedding_mean_pairwise_cosine": mean_pairwise_cosine(embeddings),
            "steps": state["step"],
            "identities": identities,
            "images": int(len(batches.labels)),
            "last_epoch": state["history"][-1] if state["history"] else {},
            "embedder": EMBEDDER_FILE,
            "hardware": hardware_description(),
            "config": identity,
        }
        if config.verification_bins:
            metrics["verification"] = verification_summary(rows)
            folder.write_json(VERIFICATION_FILE, metrics["verification"])
        folder.write_json(TIMING_FILE, timing_record(state))
        folder.write_json(METRICS_FILE, metrics)
    return metrics


def verification_hook(embedder, config):
    """`step -> {set: accuracy...}`: the `.bin` sets evaluated at a step (InsightFace's verification callback).

    Prints one line per set, as InsightFace does (also with --quiet: they are
    results, not progress): the step, the set, its accuracy with its std over
    the folds, and the mean of the folds' thresholds.
    """

    def evaluate(step):
        from tf_wsoftmax.eval.verification import evaluate_bins

        results = evaluate_bins(
            lambda batch: embedder(batch, training=False), config.verification_bins, config.image_size
        )
        row = {
            name: {**{k: float(m[k]) for k in ("accuracy_mean", "accuracy_std", "val_mean", "auc", "eer")},
                   "threshold": float(np.mean(m["thresholds"]))}
            for name, m in results.items()
        }
        for name, m in row.items():
            print(f"[step {step}] {name}: accuracy {100 * m['accuracy_mean']:.2f} +- "
                  f"{100 * m['accuracy_std']:.2f}%, threshold {m['threshold']:.4f}", flush=True)
        return row

    return evaluate


def verification_summary(rows):
    """verification.json: every evaluation, the latest and each set's best (derived from the checkpoint)."""
    best = {}
    for row in rows:
        for name, metrics in row.items():
            if name != "step" and (name not in best or metrics["accuracy_mean"] > best[name]["accuracy_mean"]):
                best[name] = {"accuracy_mean": metrics["accuracy_mean"], "step": row["step"]}
    return {"history": rows, "latest": rows[-1] if rows else None, "best": best}
