"""`run_training`: one training run of a `TrainConfig` in its run folder, resumable, on every backend.

The run folder (`tf_wsoftmax.training.RunFolder`) holds `config.json` (the
run's identity: its resolved config, the fingerprint of its data and the
backend), `checkpoint.zip` (the whole run: `fit_run`), and files derived from
the checkpoint: `history.jsonl`, `model.keras`, `metrics.json` and
`timing.json` (the seconds of each call, the only record that differs
between an interrupted and an uninterrupted run).
"""

import json
import os
import platform
import time

import keras

from tf_wsoftmax.app.experiment.config import check_classes
from tf_wsoftmax.app.experiment.heads import build_head_and_feature_loss
from tf_wsoftmax.data import ArrayBatches
from tf_wsoftmax.data import EpochBatches
from tf_wsoftmax.data import channel_statistics
from tf_wsoftmax.data import load_dataset
from tf_wsoftmax.data.fingerprint import array_fingerprint
from tf_wsoftmax.eval import angle_statistics
from tf_wsoftmax.eval import chance_warning
from tf_wsoftmax.eval import collect_features
from tf_wsoftmax.models import array_parameter_count
from tf_wsoftmax.models import build_backbone
from tf_wsoftmax.models import fc_parameter_count
from tf_wsoftmax.training import MarginClassifier
from tf_wsoftmax.training import RunFolder
from tf_wsoftmax.training import fit_run
from tf_wsoftmax.training import paper_kernel_regularizer
from tf_wsoftmax.training import paper_learning_rate
from tf_wsoftmax.training import paper_optimizer
from tf_wsoftmax.training.runner import run_state

METRICS_FILE = "metrics.json"
MODEL_FILE = "model.keras"
TIMING_FILE = "timing.json"
# Settings that may change between calls of one run: how long it trains and
# how it is computed or found, not what is trained (the data's fingerprint is
# in the identity, wherever the data is read from).
DERIVED_FILES = (METRICS_FILE, TIMING_FILE, MODEL_FILE)
RESUMABLE_KEYS = ("epochs", "checkpoint_every", "jit_compile", "download", "data_dir")


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
    temporary = f"{path}.partial-{os.getpid()}"
    with open(temporary, "w") as f:
        json.dump(payload, f, indent=2)
    os.replace(temporary, path)


def _evaluate(backbone, head, images, labels, mean, std):
    features, logits, labels = collect_features(backbone, head, ArrayBatches(images, labels, 500, mean, std))
    accuracy = float((logits.argmax(axis=-1) == labels).mean())
    # (d, K): a margin head's view of its kernel (class-major when it samples), or a `Dense` kernel.
    class_vectors = head.class_vectors() if hasattr(head, "class_vectors") else head.kernel
    return accuracy, angle_statistics(features, labels, keras.ops.convert_to_numpy(class_vectors))


def save_classifier(backbone, head, image_shape, mean, std, path):
    """Saves raw images -> standardisation -> backbone -> head as one `.keras` model.

    The standardisation is a `keras.layers.Normalization` with the training
    set's per-channel statistics (`channel_statistics`, [0, 1] units) in pixel
    units: (x / 255 - mean) / std = (x - 255 mean) / (255 std), so the model
    takes pixel values 0..255.
    """
    inputs = keras.Input(shape=image_shape, name="images")
    standardized = keras.layers.Normalization(
        mean=255.0 * mean, variance=(255.0 * std) ** 2, name="standardize"
    )(inputs)
    keras.Model(inputs, head(backbone(standardized)), name="classifier").save(path)


def run_identity(config, data, softmax_steps):
    """The identity of a run: the resolved config, the data's fingerprint and the backend."""
    return {
        **config.resolved(softmax_steps),
        "data": {
            "num_classes": data.num_classes,
            "train": array_fingerprint(*data.train),
            "test": array_fingerprint(*data.test),
        },
        "backend": keras.backend.backend(),
    }


def finished_metrics(folder, identity, total_steps):
    """The metrics of a run that is already complete and whose metrics.json is current, else None."""
    state = run_state(folder, identity, RESUMABLE_KEYS, DERIVED_FILES)
    if state is None or state["step"] != total_steps:
        return None
    metrics = folder.read_json(METRICS_FILE)
    if metrics is None or metrics.get("steps") != total_steps or metrics.get("config") != identity:
        return None
    return metrics


def timing_record(state, other_seconds=None):
    """timing.json: each call's trained steps and seconds, their sums, and the seconds of the rest.

    Args:
        state: the run state (`fit_run`'s result).
        other_seconds: the seconds of this call's work besides training
            (loading, building, evaluating, saving), if measured.
    """
    calls = [call for call in state["calls"] if call["to_step"] > call["from_step"]]
    record = {
        "calls": calls,
        "train_seconds": round(sum(call["seconds"] for call in calls), 3),
        "steps": sum(call["to_step"] - call["from_step"] for call in calls),
    }
    if other_seconds is not None:
        record["other_seconds"] = round(other_seconds, 3)
    return record


def run_training(config, out_dir, verbose=True, overwrite=False):
    """Trains one configuration in `out_dir`, resuming the run it holds.

    A folder holding a run of another identity is refused (naming the keys
    that differ), unless `overwrite`; only `RESUMABLE_KEYS` may change, so
    more epochs continue the run (fewer than trained are refused). A folder
    in use by another process is refused at once.

    Args:
        config: a `TrainConfig`.
        out_dir: the run folder (created).
        verbose: progress lines.
        overwrite: delete the package's files of a run of another identity first.

    Returns:
        The metrics written to metrics.json, plus "call": {"resumed_from_step",
        "steps", "seconds"} of this call (not written).
    """
    started = time.time()
    data = load_dataset(config.dataset, config.data_dir, config.classes, config.seed, config.download)
    (x_train, y_train), (x_test, y_test) = data.train, data.test
    mean, std = channel_statistics(x_train)
    batches = EpochBatches(x_train, y_train, config.batch_size, config.seed, mean, std, config.augment)
    total_steps = config.epochs * batches.batches_per_epoch
    check_classes(config.loss, config.loss_params, data.num_classes)
    with RunFolder(out_dir) as folder:
        softmax_steps = config.softmax_steps(batches.batches_per_epoch, folder.saved_identity())
        identity = run_identity(config, data, softmax_steps)
        folder.claim(identity, RESUMABLE_KEYS, overwrite)
        metrics = finished_metrics(folder, identity, total_steps)
        if metrics is not None:
            return dict(metrics, call={"resumed_from_step": total_steps, "steps": 0, "seconds": 0.0})

        keras.utils.set_random_seed(config.seed)
        backbone = build_backbone(
            identity["backbone"], x_train.shape[1:], identity["feature_dim"],
            kernel_regularizer=paper_kernel_regularizer(config.weight_decay),
        )
        head, feature_loss = build_head_and_feature_loss(config, data.num_classes, softmax_steps)
        optimizer = paper_optimizer(
            paper_learning_rate(config.learning_rate, config.decay_steps, config.decay_rate), config.momentum,
            lazy_columns=getattr(head, "samples_classes", False),  # Partial FC: docs/scale.md
        )
        model = MarginClassifier(backbone, head, feature_loss)
        jit = config.jit_compile if keras.backend.backend() == "tensorflow" else "auto"
        model.compile(optimizer=optimizer, metrics=["accuracy"], jit_compile=jit)
        state = fit_run(
            model, batches, folder, config.epochs, identity, resumable=RESUMABLE_KEYS, records=DERIVED_FILES,
            checkpoint_every=config.checkpoint_every, validation_data=ArrayBatches(x_test, y_test, 500, mean, std),
            verbose=2 if verbose else 0,
        )
        folder.save_with(MODEL_FILE, lambda path: save_classifier(backbone, head, x_train.shape[1:], mean, std, path))
        metrics = _metrics(identity, data, backbone, head, state, (mean, std))
        this_call = state["calls"][-1]
        folder.write_json(TIMING_FILE, timing_record(state, time.time() - started - this_call["seconds"]))
        folder.write_json(METRICS_FILE, metrics)
    call = {"resumed_from_step": state["resumed_from_step"], "steps": this_call["to_step"] - this_call["from_step"],
            "seconds": this_call["seconds"]}
    return dict(metrics, call=call)


def _metrics(identity, data, backbone, head, state, statistics):
    """metrics.json of a finished run: everything derived from its final state (no timing)."""
    (x_train, y_train), (x_test, y_test) = data.train, data.test
    train_accuracy, train_angles = _evaluate(backbone, head, x_train, y_train, *statistics)
    test_accuracy, test_angles = _evaluate(backbone, head, x_test, y_test, *statistics)
    fc_params = fc_parameter_count(backbone, head)
    return {
        "warnings": [w for w in [chance_warning(test_accuracy, data.num_classes)] if w],
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
        "epochs": identity["epochs"],
        "steps": state["step"],
        "softmax_steps": identity["softmax_steps"],
        "model": MODEL_FILE,
        "backend": identity["backend"],
        "hardware": hardware_description(),
        "config": identity,
    }
