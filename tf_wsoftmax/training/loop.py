"""A small training loop: progress bar, epoch metrics, TensorBoard, resumable checkpoints."""

import dataclasses
import math

import keras
import tensorflow as tf

from tf_wsoftmax.training.train_step import TrainStep
from tf_wsoftmax.training.forward import classifier_logits


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    """Settings of `train`.

    Args:
        epochs: number of epochs to reach (a resumed run continues up to it).
        checkpoint_dir: directory for `tf.train.CheckpointManager`; None
            disables checkpointing and resume.
        checkpoint_every: also save every this many steps (0: only at the
            end of each epoch).
        max_to_keep: checkpoints kept.
        log_dir: TensorBoard directory; None disables summaries.
        jit_compile: XLA-compile the train step.
        verbose: show a Keras progress bar and an epoch line.
        epoch_callback: optional function called with each epoch's metric
            dict after its checkpoint is written (e.g. to append a log).
        max_steps: stop (with a checkpoint) once the global step reaches
            it, even inside an epoch. None: run all epochs.
        step_callback: optional function called with the global step every
            `step_callback_every` steps (e.g. an evaluation on held-out sets,
            as InsightFace's verification callback); a dict of numbers it
            returns is written to TensorBoard at that step.
        step_callback_every: how often `step_callback` runs (0: never).
    """

    epochs: int
    checkpoint_dir: str = None
    checkpoint_every: int = 0
    max_to_keep: int = 3
    log_dir: str = None
    jit_compile: bool = False
    verbose: bool = True
    epoch_callback: object = None
    max_steps: int = None
    step_callback: object = None
    step_callback_every: int = 0


class _EpochAccumulators(tf.Module):
    """Running sums of the current epoch, checkpointed so a resumed epoch reports
    metrics over all of its batches."""

    def __init__(self):
        super().__init__()
        self.loss_sum = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        self.correct = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        self.samples = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        self.batches = tf.Variable(0.0, dtype=tf.float64, trainable=False)

    def reset(self):
        for variable in (self.loss_sum, self.correct, self.samples, self.batches):
            variable.assign(0.0)

    def update(self, loss, correct, batch_size):
        self.loss_sum.assign_add(tf.cast(loss, tf.float64))
        self.correct.assign_add(tf.cast(correct, tf.float64))
        self.samples.assign_add(float(batch_size))
        self.batches.assign_add(1.0)

    def result(self):
        batches = max(float(self.batches.numpy()), 1.0)
        samples = max(float(self.samples.numpy()), 1.0)
        return {
            "loss": float(self.loss_sum.numpy()) / batches,
            "accuracy": float(self.correct.numpy()) / samples,
        }


def evaluate_accuracy(backbone, head, dataset):
    """Test-time accuracy (original normalised W) over a batched dataset.

    Args:
        backbone: Keras model, images -> features.
        head: classifier layer.
        dataset: batched `tf.data.Dataset` of (images, labels).

    Returns:
        Accuracy as a Python float.
    """
    correct, total = 0, 0
    for images, labels in dataset:
        _, logits = classifier_logits(backbone, head, images)
        predictions = tf.argmax(logits, axis=-1, output_type=labels.dtype)
        correct += int(tf.reduce_sum(tf.cast(predictions == labels, tf.int32)))
        total += int(tf.shape(labels)[0])
    return correct / max(total, 1)


def _epoch_dataset(train_data, epoch):
    return train_data(epoch) if callable(train_data) else train_data


def _steps_per_epoch(dataset):
    steps = int(dataset.cardinality())
    if steps <= 0:
        raise ValueError(
            "The training dataset must be finite with a known number of batches "
            f"(cardinality={steps}); use `.take(n)` or `.apply(tf.data.experimental."
            "assert_cardinality(n))`."
        )
    return steps


def _write_scalars(writer, step, values):
    """Writes a callback's {name: number} to TensorBoard (nothing without a writer or values)."""
    if writer is None or not values:
        return
    with writer.as_default(step=step):
        for name, value in values.items():
            tf.summary.scalar(name, float(value))
    writer.flush()


def train(backbone, head, optimizer, train_data, config, validation_data=None, feature_loss=None):
    """Trains backbone + head with `TrainStep`, resuming from the last checkpoint.

    The global step is `optimizer.iterations`. On restart the loop restores
    the newest checkpoint in `config.checkpoint_dir` (weights, optimizer
    state, step and the current epoch's running metrics), skips the batches
    of the interrupted epoch that were already trained on, and continues. For
    the resumed run to match an uninterrupted one, each epoch's batch order
    must be reproducible: pass `train_data` as a callable `epoch -> Dataset`
    with a seeded shuffle (see `tf_wsoftmax.data.epoch_datasets`).

    Args:
        backbone: Keras model, images -> features.
        head: classifier layer (`NormalizedDense` or `Dense`).
        optimizer: Keras optimizer (its `iterations` is the step count).
        train_data: a finite batched `tf.data.Dataset` of (images, int
            labels), or a callable mapping the epoch index to one.
        config: a `LoopConfig`.
        validation_data: optional batched dataset; its accuracy is reported
            after each epoch.
        feature_loss: optional centre-loss layer (`CenterLossLayer`,
            `ContrastiveCenterLossLayer`); its centres are checkpointed.

    Returns:
        dict: "history" (a list of per-epoch metric dicts of the epochs run in
        this call), "step" (the final global step) and "resumed_from_step"
        (the step restored from a checkpoint, or None for a fresh start).
    """
    step_fn = TrainStep(
        backbone, head, optimizer, jit_compile=config.jit_compile, feature_loss=feature_loss
    )
    accumulators = _EpochAccumulators()
    first = _epoch_dataset(train_data, 0)
    steps_per_epoch = _steps_per_epoch(first)
    sample_images, _ = next(iter(first))
    features, _ = classifier_logits(backbone, head, sample_images)
    if feature_loss is not None and not feature_loss.built:
        feature_loss.build(features.shape)
    optimizer.build(step_fn.trainable_variables)

    manager = None
    if config.checkpoint_dir:
        tracked = dict(backbone=backbone, head=head, optimizer=optimizer, epoch_metrics=accumulators)
        if feature_loss is not None:
            tracked["feature_loss"] = feature_loss
        checkpoint = tf.train.Checkpoint(**tracked)
        manager = tf.train.CheckpointManager(
            checkpoint, config.checkpoint_dir, max_to_keep=config.max_to_keep
        )
        if manager.latest_checkpoint:
            checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    writer = tf.summary.create_file_writer(config.log_dir) if config.log_dir else None

    step = int(optimizer.iterations.numpy())
    resumed_from_step = step if manager and manager.latest_checkpoint else None
    if resumed_from_step is not None and config.verbose:
        print(f"Resumed from step {step} ({manager.latest_checkpoint}).")
    history = []
    for epoch in range(step // steps_per_epoch, config.epochs):
        if config.max_steps is not None and step >= config.max_steps:
            break
        done_in_epoch = step - epoch * steps_per_epoch
        if done_in_epoch == 0:
            accumulators.reset()
        dataset = step_fn.distribute(_epoch_dataset(train_data, epoch).skip(done_in_epoch))
        progress = (
            keras.utils.Progbar(steps_per_epoch, stateful_metrics=["loss", "accuracy"])
            if config.verbose
            else None
        )
        if progress and config.verbose:
            print(f"Epoch {epoch + 1}/{config.epochs}")
        for images, labels in dataset:
            outputs = step_fn(images, labels)
            if not math.isfinite(float(outputs["loss"])):
                raise FloatingPointError(
                    f"Non-finite training loss ({float(outputs['loss'])}) at step {step + 1} (epoch "
                    f"{epoch + 1}); stopping before checkpointing it. Lower the learning rate or "
                    "check the data; a restart resumes from the last checkpoint."
                )
            accumulators.update(outputs["loss"], outputs["correct"], float(outputs["samples"]))
            step += 1
            if progress:
                progress.update(step - epoch * steps_per_epoch, list(accumulators.result().items()))
            if manager and config.checkpoint_every and step % config.checkpoint_every == 0:
                manager.save(checkpoint_number=step)
            if config.step_callback is not None and config.step_callback_every and step % config.step_callback_every == 0:
                _write_scalars(writer, step, config.step_callback(step))
            if config.max_steps is not None and step >= config.max_steps:
                break
        metrics = dict(accumulators.result(), epoch=epoch + 1, step=step)
        if validation_data is not None:
            metrics["val_accuracy"] = evaluate_accuracy(backbone, head, validation_data)
        history.append(metrics)
        if manager:
            manager.save(checkpoint_number=step)
        if writer:
            with writer.as_default(step=step):
                for key in ("loss", "accuracy", "val_accuracy"):
                    if key in metrics:
                        tf.summary.scalar(key, metrics[key])
                learning_rate = optimizer.learning_rate
                tf.summary.scalar("learning_rate", tf.convert_to_tensor(learning_rate))
            writer.flush()
        if config.epoch_callback is not None:
            config.epoch_callback(metrics)
        if config.verbose:
            print(" - ".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in metrics.items()))
    return {"history": history, "step": step, "resumed_from_step": resumed_from_step}
