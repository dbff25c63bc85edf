"""A resumable Keras `fit` on every backend: step checkpoints and an exact mid-epoch resume.

Keras' `BackupAndRestore` restarts an interrupted epoch from its first batch
(after restoring weights saved mid-epoch, so those batches are trained
twice) and writes its file in place. `fit_resumable` instead saves the
weights with the optimiser's state (whose `iterations` is the step count)
to a temporary file renamed over the checkpoint, and a restart fits the
rest of the interrupted epoch (`EpochBatches.start_batch`) before the
remaining epochs, so a resumed run trains on the batches an uninterrupted
one trains on.
"""

import math
import os

import keras
import numpy as np

CHECKPOINT_SUFFIX = ".weights.h5"


def _check_finite(logs, step):
    loss = (logs or {}).get("loss")
    if loss is not None and not math.isfinite(float(loss)):
        raise FloatingPointError(
            f"Non-finite training loss ({float(loss)}) at step {step}; stopping before checkpointing it. "
            "Lower the learning rate or check the data; a restart resumes from the last checkpoint."
        )


def _check_finite_weights(model, step):
    """Raises if a weight (or optimiser variable) is NaN or infinite: such a state is never saved."""
    for variable in list(model.weights) + list(model.optimizer.variables if model.optimizer else []):
        value = keras.ops.convert_to_numpy(variable.value)
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise FloatingPointError(
                f"Non-finite values in {variable.path} at step {step}; stopping before checkpointing them. "
                "Lower the learning rate or check the data; a restart resumes from the last checkpoint."
            )


def optimizer_step(model):
    """The optimiser's step count (`optimizer.iterations`) as an int."""
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


def restore_checkpoint(model, path):
    """Loads a `StepCheckpoint` file into a compiled, built model.

    Args:
        model: the model (same architecture and optimiser as when saved).
        path: the checkpoint (`*.weights.h5`).

    Returns:
        The restored optimiser step, or None when `path` does not exist.
    """
    if not os.path.exists(path):
        return None
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(path)
    return optimizer_step(model)


class StepCheckpoint(keras.callbacks.Callback):
    """Saves weights and optimiser state every `every` steps and at each epoch end.

    The file is written to `<name>.tmp.weights.h5` and renamed over `path`,
    so a kill never leaves half a checkpoint. A non-finite training loss, or
    a non-finite weight or optimiser variable, is an error raised before
    saving (the last checkpoint stays the last finite state). Steps are counted here (from
    `initial_step`), so the weights are read only when saving (on JAX,
    reading them syncs the training state).

    Args:
        path: checkpoint file, ending in ".weights.h5".
        every: steps between checkpoints, or None (epoch ends only).
        initial_step: the optimiser step at the start of this `fit`.
    """

    def __init__(self, path, every=None, initial_step=0):
        super().__init__()
        if not path.endswith(CHECKPOINT_SUFFIX):
            raise ValueError(f"The checkpoint path must end with '{CHECKPOINT_SUFFIX}'. Received: {path}")
        if every is not None and (not isinstance(every, int) or every < 1):
            raise ValueError(f"`every` must be a positive int or None. Received: every={every}")
        self.path = path
        self.every = every
        self.step = initial_step

    def save(self, logs):
        """Checks the loss and every weight are finite, then writes the checkpoint atomically."""
        _check_finite(logs, self.step)
        _check_finite_weights(self.model, self.step)
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        temporary = self.path[: -len(CHECKPOINT_SUFFIX)] + ".tmp" + CHECKPOINT_SUFFIX
        self.model.save_weights(temporary, overwrite=True)
        os.replace(temporary, self.path)

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.every and self.step % self.every == 0:
            self.save(logs)

    def on_epoch_end(self, epoch, logs=None):
        self.save(logs)


class EpochSetter(keras.callbacks.Callback):
    """Sets an `EpochBatches`' epoch at the start of each of Keras' epochs."""

    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.set_epoch(epoch)


class EpochRecords(keras.callbacks.Callback):
    """One record per epoch: loss, accuracy, epoch (1-based), step, val_accuracy; passed to `record`."""

    def __init__(self, record):
        super().__init__()
        self.record = record

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        step = optimizer_step(self.model)
        _check_finite(logs, step)
        entry = {key: float(logs[key]) for key in ("loss", "accuracy") if key in logs}
        entry.update(epoch=epoch + 1, step=step)
        if "val_accuracy" in logs:
            entry["val_accuracy"] = float(logs["val_accuracy"])
        self.record(entry)


def fit_resumable(model, batches, epochs, checkpoint_path=None, checkpoint_every=None, validation_data=None,
                  on_epoch=None, callbacks=(), verbose="auto"):
    """`model.fit` over an `EpochBatches` for `epochs` epochs, resuming from `checkpoint_path`.

    A checkpoint at step s (s = e * batches_per_epoch + b) resumes with
    batch b of epoch e: one `fit` for the rest of that epoch, then one for
    the remaining epochs (Keras' `initial_epoch`). The learning-rate
    schedule and the heads' schedules count optimiser steps, restored with
    the weights. The first epoch after a mid-epoch resume reports the loss
    and accuracy of its remaining batches only, and callbacks see
    `on_train_begin` / `on_train_end` once per `fit`.

    Args:
        model: a compiled, built model (e.g. `MarginClassifier`).
        batches: the training `tf_wsoftmax.data.EpochBatches`.
        epochs: total epochs of the run.
        checkpoint_path: `*.weights.h5` file, or None (no checkpoints).
        checkpoint_every: steps between checkpoints (and at epoch ends).
        validation_data: optional validation data for `fit`.
        on_epoch: optional function called with each epoch's record.
        callbacks: more Keras callbacks.
        verbose: `fit`'s verbosity.

    Returns:
        dict: "history" (per-epoch records of this call, see `EpochRecords`),
        "step" (the final step) and "resumed_from_step" (None for a fresh run).
    """
    resumed = restore_checkpoint(model, checkpoint_path) if checkpoint_path else None
    history = []

    def record(entry):
        history.append(entry)
        if on_epoch is not None:
            on_epoch(entry)

    def fit(data, initial_epoch, until):
        run_callbacks = [EpochSetter(data), EpochRecords(record), *callbacks]
        if checkpoint_path:
            run_callbacks.insert(0, StepCheckpoint(checkpoint_path, checkpoint_every, optimizer_step(model)))
        model.fit(data, epochs=until, initial_epoch=initial_epoch, validation_data=validation_data,
                  callbacks=run_callbacks, verbose=verbose, shuffle=False)  # the batches set the order

    epoch, done = divmod(resumed or 0, batches.batches_per_epoch)
    if epoch < epochs and done:
        fit(batches.resumed_at(epoch, done), epoch, epoch + 1)
        epoch += 1
    if epoch < epochs and not getattr(model, "stop_training", False):  # a callback's stop (EarlyStopping) holds for the run
        fit(batches, epoch, epochs)
    return {"history": history, "step": optimizer_step(model), "resumed_from_step": resumed}
