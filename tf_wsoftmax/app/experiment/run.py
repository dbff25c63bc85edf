"""`run_training`: one resumable training run that writes metrics.json."""

import dataclasses
import json
import math
import os
import platform
import time

import keras

from tf_wsoftmax.data import ArrayBatches
from tf_wsoftmax.data import channel_statistics
from tf_wsoftmax.data import load_dataset
from tf_wsoftmax.eval import angle_statistics
from tf_wsoftmax.eval import chance_warning
from tf_wsoftmax.eval import collect_features
from tf_wsoftmax.app.experiment.heads import build_head_and_feature_loss
from tf_wsoftmax.app.experiment.run_folder import check_run_folder
from tf_wsoftmax.app.experiment.run_folder import start_run_folder
from tf_wsoftmax.models import build_backbone
from tf_wsoftmax.models import array_parameter_count
from tf_wsoftmax.models import fc_parameter_count
from tf_wsoftmax.training import paper_kernel_regularizer
from tf_wsoftmax.training import paper_learning_rate
from tf_wsoftmax.training import paper_optimizer

METRICS_FILE = "metrics.json"
MODEL_FILE = "model.keras"
# Settings that may change between calls of one run: how long it trains and
# how it is computed or found, not what is trained.
RESUMABLE_KEYS = ("epochs", "checkpoint_every", "jit_compile", "download", "data_dir")
# The checkpoint each backend's training writes under OUT/ckpt: TensorFlow's
# `tf.train.CheckpointManager` (TrainStep loop), Keras `fit` elsewhere.
TF_CHECKPOINT_INDEX = "checkpoint"
FIT_CHECKPOINT = "fit.weights.h5"


def hardware_description():
    """A one-line description of the machine and backend (for metrics and README tables)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        device = f"{len(gpus)} GPU(s)" if gpus else "CPU only"
        version = f"TF {tf.__version__}"
    elif backend == "jax":
        import jax

        devices = jax.devices()
        device = "CPU only" if devices[0].platform == "cpu" else f"{len(devices)} x {devices[0].device_kind}"
        version = f"JAX {jax.__version__}"
    else:
        device, version = "device unknown", backend
    return f"{platform.machine()} {os.cpu_count()} cores, {device}, Keras {keras.__version__} on {version}"


def write_json(path, payload):
    """Writes JSON atomically (temp file + rename), so a kill never leaves half a file."""
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        json.dump(payload, f, indent=2)
    os.replace(temporary, path)


def _evaluate(backbone, head, images, labels, mean, std):
    features, logits, labels = collect_features(backbone, head, ArrayBatches(images, labels, 500, mean, std))
    accuracy = float((logits.argmax(axis=-1) == labels).mean())
    return accuracy, angle_statistics(features, labels, keras.ops.convert_to_numpy(head.kernel))


def check_checkpoint_backend(out_dir, backend):
    """Refuses to resume a run whose checkpoint another backend's training wrote.

    Raises:
        ValueError: OUT/ckpt holds a TensorFlow checkpoint and `backend` is
            not TensorFlow, or a Keras-fit checkpoint and it is.
    """
    folder = os.path.join(out_dir, "ckpt")
    tensorflow_made = os.path.exists(os.path.join(folder, TF_CHECKPOINT_INDEX))
    fit_made = os.path.exists(os.path.join(folder, FIT_CHECKPOINT))
    if (backend == "tensorflow" and fit_made) or (backend != "tensorflow" and tensorflow_made):
        made_by = "a non-TensorFlow backend (Keras fit)" if backend == "tensorflow" else "TensorFlow (TrainStep)"
        raise ValueError(
            f"{out_dir} holds a checkpoint written by {made_by}; resume it on that backend "
            f"(--backend), or use another --out folder."
        )


def save_classifier(backbone, head, image_shape, mean, std, path):
    """Saves raw images -> standardisation -> backbone -> head as one `.keras` model.

    The standardisation is a `keras.layers.Normalization` with the training
    set's per-channel statistics (`channel_statistics`, [0, 1] units) in pixel
    units, the same map as `make_normalizer`: (x / 255 - mean) / std =
    (x - 255 mean) / (255 std), so the model takes pixel values 0..255.
    """
    inputs = keras.Input(shape=image_shape, name="images")
    standardized = keras.layers.Normalization(
        mean=255.0 * mean, variance=(255.0 * std) ** 2, name="standardize"
    )(inputs)
    keras.Model(inputs, head(backbone(standardized)), name="classifier").save(path)


def run_training(config, out_dir, verbose=True, overwrite=False):
    """Trains one configuration, resuming from `out_dir` if it was interrupted.

    Writes `out_dir/config.json` at the start, a TensorBoard log under
    `out_dir/logs`, checkpoints under `out_dir/ckpt`, one line per epoch in
    `out_dir/history.jsonl`, and at the end `out_dir/model.keras` (the
    classifier with the input standardisation inside: raw images in,
    test-time logits out; no centres) and `out_dir/metrics.json`. A folder
    holding a run of another config is refused (see `check_run_folder`);
    only `RESUMABLE_KEYS` may change, so more epochs continue the run.

    Args:
        config: a `TrainConfig`.
        out_dir: output folder (created).
        verbose: progress bars and epoch lines.
        overwrite: delete a run of another config in `out_dir` first.

    Returns:
        The metrics dict written to metrics.json.
    """
    started = time.time()
    backend = keras.backend.backend()
    resumes = check_run_folder(out_dir, dataclasses.asdict(config), RESUMABLE_KEYS, overwrite)  # writes nothing
    if resumes:  # (a folder of another config is deleted under --overwrite: its checkpoint goes with it)
        check_checkpoint_backend(out_dir, backend)
    data = load_dataset(config.dataset, config.data_dir, config.classes, config.seed, config.download)
    (x_train, y_train), (x_test, y_test) = data.train, data.test
    mean, std = channel_statistics(x_train)

    keras.utils.set_random_seed(config.seed)
    backbone = build_backbone(
        config.backbone_name,
        x_train.shape[1:],
        config.feature_dim,
        kernel_regularizer=paper_kernel_regularizer(config.weight_decay),
    )
    steps_per_epoch = math.ceil(len(y_train) / config.batch_size)
    # Algorithm 1 (softmax first, then W-Softmax) is the head's alpha
    # schedule: one training run, checkpointed and resumed as one.
    softmax_steps = config.softmax_epochs * steps_per_epoch
    head, feature_loss = build_head_and_feature_loss(config, data.num_classes, softmax_steps)
    optimizer = paper_optimizer(
        paper_learning_rate(config.learning_rate, config.decay_steps, config.decay_rate), config.momentum,
        lazy_columns=getattr(head, "samples_classes", False),  # Partial FC: docs/scale.md
    )
    history_path = os.path.join(out_dir, "history.jsonl")

    def log_epoch(metrics):
        with open(history_path, "a") as f:
            f.write(json.dumps(metrics) + "\n")

    start_run_folder(out_dir, dataclasses.asdict(config), RESUMABLE_KEYS, overwrite)  # everything checked
    train_on = _train_with_train_step if backend == "tensorflow" else _train_with_fit
    training_started = time.time()
    result = train_on(config, out_dir, backbone, head, feature_loss, optimizer, data, (mean, std), verbose, log_epoch)
    train_seconds = time.time() - training_started

    save_classifier(backbone, head, x_train.shape[1:], mean, std, os.path.join(out_dir, MODEL_FILE))
    train_accuracy, train_angles = _evaluate(backbone, head, x_train, y_train, mean, std)
    test_accuracy, test_angles = _evaluate(backbone, head, x_test, y_test, mean, std)
    fc_params = fc_parameter_count(backbone, head)
    warnings = [w for w in [chance_warning(test_accuracy, data.num_classes)] if w]
    metrics = {
        "warnings": warnings,
        "test_accuracy": test_accuracy,
        "train_accuracy": train_accuracy,
        "mean_angle_test": test_angles["intra_mean"],
        "mean_angle_train": train_angles["intra_mean"],
        "angles_test": test_angles,
        "angles_train": train_angles,
        "fc_params": fc_params,
        "fc_bytes_float32": 4 * fc_params,
        "total_params": backbone.count_params() + array_parameter_count(head),
        "num_classes": data.num_classes,
        "train_examples": int(len(y_train)),
        "test_examples": int(len(y_test)),
        "data_source": data.source,
        "steps": result["step"],
        "resumed_from_step": result["resumed_from_step"],
        "model": os.path.join(out_dir, MODEL_FILE),
        "softmax_steps": softmax_steps,
        "seconds_this_call": round(time.time() - started, 1),
        "train_seconds_this_call": round(train_seconds, 2),
        "steps_this_call": result["step"] - (result["resumed_from_step"] or 0),
        "backend": backend,
        "hardware": hardware_description(),
        "config": dataclasses.asdict(config),
    }
    write_json(os.path.join(out_dir, METRICS_FILE), metrics)
    return metrics


def _train_with_train_step(config, out_dir, backbone, head, feature_loss, optimizer, data, statistics, verbose,
                           log_epoch):
    """TensorFlow: `tf_wsoftmax.training.train` (TrainStep) over tf.data, checkpoints in OUT/ckpt."""
    from tf_wsoftmax.app.experiment.run_folder import folder_loop_config
    from tf_wsoftmax.data import epoch_datasets
    from tf_wsoftmax.data import eval_dataset
    from tf_wsoftmax.data import make_normalizer
    from tf_wsoftmax.training import train

    normalize = make_normalizer(*statistics)
    (x_train, y_train), (x_test, y_test) = data.train, data.test
    train_data = epoch_datasets(
        x_train, y_train, config.batch_size, seed=config.seed, normalize=normalize, augment=config.augment
    )
    loop_config = folder_loop_config(
        out_dir, config.epochs, config.checkpoint_every, config.jit_compile, verbose, epoch_callback=log_epoch
    )
    validation = eval_dataset(x_test, y_test, batch_size=500, normalize=normalize)
    return train(backbone, head, optimizer, train_data, loop_config, validation, feature_loss)


def _train_with_fit(config, out_dir, backbone, head, feature_loss, optimizer, data, statistics, verbose, log_epoch):
    """Any backend: `MarginClassifier.fit` over NumPy `EpochBatches` (`fit_resumable`), checkpoint OUT/ckpt.

    Same objective, epoch order and checkpoint cadence as the TensorFlow
    path; the step is always compiled (`jit_compile` matters on TensorFlow only).
    """
    from tf_wsoftmax.data import EpochBatches
    from tf_wsoftmax.training import MarginClassifier
    from tf_wsoftmax.training import fit_resumable

    mean, std = statistics
    (x_train, y_train), (x_test, y_test) = data.train, data.test
    model = MarginClassifier(backbone, head, feature_loss)
    model.compile(optimizer=optimizer, metrics=["accuracy"])
    batches = EpochBatches(x_train, y_train, config.batch_size, config.seed, mean, std, config.augment)
    return fit_resumable(
        model, batches, config.epochs, os.path.join(out_dir, "ckpt", FIT_CHECKPOINT), config.checkpoint_every,
        validation_data=ArrayBatches(x_test, y_test, 500, mean, std), on_epoch=log_epoch, verbose=2 if verbose else 0,
    )
