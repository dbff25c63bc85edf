"""`fit_run`: Keras `fit` as one resumable run whose whole state is one checkpoint.

The run's state (every variable, the step, its position in the data order,
the epochs' history, the records of its step hooks, its identity) is one
file, `checkpoint.zip` (`tf_wsoftmax.training.checkpoint`), written
atomically every `checkpoint_every` steps, after each hook and at each
epoch's end. `history.jsonl` is derived from it after each write (and again
when a run is reopened), so no kill can split the record from the weights.
A restart restores the checkpoint and trains on exactly the batches an
uninterrupted run trains on: the rest of the interrupted epoch (with the
epoch's running metrics restored), then the remaining epochs. Keras'
`BackupAndRestore` is not used: it restarts an interrupted epoch from its
first batch and keeps the weights in a file of its own beside the rest of
the run.
"""

import dataclasses
import math
import os
import time

import keras

from tf_wsoftmax.training.checkpoint import CheckpointError
from tf_wsoftmax.training.checkpoint import load_run
from tf_wsoftmax.training.checkpoint import read_state
from tf_wsoftmax.training.checkpoint import save_run
from tf_wsoftmax.training.run_folder import RunFolderError
from tf_wsoftmax.training.run_folder import identity_differences

CHECKPOINT_FILE = "checkpoint.zip"
HISTORY_FILE = "history.jsonl"


@dataclasses.dataclass(frozen=True)
class StepHook:
    """A function run every `every` training steps whose records the checkpoint keeps.

    E.g. InsightFace-style verification during face training. The checkpoint
    is written right after the hook runs, so its record and the weights it
    measured are one atomic state, and a resumed run never runs it twice.

    Args:
        name: the key of its records in the run state.
        every: steps between calls (positive int).
        function: `step -> dict` of JSON numbers (the record; "step" is added).
    """

    name: str
    every: int
    function: object

    def __post_init__(self):
        if not isinstance(self.every, int) or isinstance(self.every, bool) or self.every < 1:
            raise ValueError(f"`every` must be a positive int. Received: every={self.every!r}")


def _finite_record(logs, step):
    record = {key: float(value) for key, value in (logs or {}).items() if keras.ops.is_tensor(value) or isinstance(value, (int, float))}
    for key, value in record.items():
        if not math.isfinite(value):
            raise FloatingPointError(
                f"Non-finite {key} ({value}) at step {step}; stopping before checkpointing it. Lower the "
                "learning rate or check the data; a restart resumes from the last checkpoint."
            )
    return record


class _RunRecorder(keras.callbacks.Callback):
    """Sets each epoch's batch order, counts steps, runs the hooks, writes the checkpoint and the history."""

    def __init__(self, run, batches, metric_values=None):
        super().__init__()
        self.run = run
        self.batches = batches
        self.metric_values = metric_values  # a mid-epoch resume: the epoch's running sums

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.set_epoch(epoch)
        if self.metric_values is not None:  # after Keras' reset of the metrics, before the first batch
            for variable, value in zip(self.model.metrics_variables, self.metric_values):
                variable.assign(value)
            self.metric_values = None

    def on_train_batch_end(self, batch, logs=None):
        run = self.run
        run.state["step"] += 1
        step = run.state["step"]
        ran = False
        for hook in run.hooks:
            if step % hook.every == 0:
                self.model  # noqa: B018  (on JAX, reading `model` syncs the trained state into the variables)
                record = dict(hook.function(step), step=step)
                run.state["hooks"].setdefault(hook.name, []).append(record)
                ran = True
        ends_epoch = step % run.steps_per_epoch == 0 or step == run.total_steps
        if not ends_epoch and (ran or (run.checkpoint_every and step % run.checkpoint_every == 0)):
            _finite_record({"loss": (logs or {}).get("loss", 0.0)}, step)
            run.checkpoint(self.model)

    def on_epoch_end(self, epoch, logs=None):
        run = self.run
        record = _finite_record(logs, run.state["step"])
        record.update(epoch=epoch + 1, step=run.state["step"])
        run.state["history"].append(record)
        run.checkpoint(self.model)
        if run.on_epoch is not None:
            run.on_epoch(record)


class _Run:
    """The bookkeeping of one `fit_run` call (see there)."""

    def __init__(self, folder, state, steps_per_epoch, total_steps, checkpoint_every, hooks, on_epoch):
        self.folder = folder
        self.state = state
        self.steps_per_epoch = steps_per_epoch
        self.total_steps = total_steps
        self.checkpoint_every = checkpoint_every
        self.hooks = tuple(hooks)
        self.on_epoch = on_epoch
        self.started = time.time()
        self.state["calls"].append({"from_step": state["step"], "to_step": state["step"], "seconds": 0.0,
                                    "backend": keras.backend.backend()})

    def checkpoint(self, model):
        call = self.state["calls"][-1]
        call.update(to_step=self.state["step"], seconds=round(time.time() - self.started, 3))
        save_run(self.folder.claim_name(CHECKPOINT_FILE), model, self.state)
        write_history(self.folder, self.state)


def write_history(folder, state):
    """Derives `history.jsonl` (one epoch record per line) from a checkpoint's state."""
    folder.write_lines(HISTORY_FILE, state["history"])


def run_state(folder, identity=None, resumable=(), records=()):
    """The state of the checkpoint in `folder` (cheap: no arrays read), or None for a new run.

    Args:
        folder: an open `RunFolder`.
        identity: when given, the checkpoint's identity must equal it (up to `resumable`).
        resumable: top-level identity keys allowed to differ.
        records: more files derived from the checkpoint (besides history.jsonl):
            any of them without the checkpoint is a lost checkpoint.

    Raises:
        RunFolderError: the folder holds a history (or `records`) but its
            checkpoint is gone, or the checkpoint is of another run.
        CheckpointError: the checkpoint is damaged (naming it).
    """
    path = folder.file(CHECKPOINT_FILE)
    if not os.path.exists(path):
        # The history is derived from a checkpoint, so it exists only after one was written.
        ours = folder.written()
        recorded = [name for name in (HISTORY_FILE, *records) if name in ours and os.path.exists(folder.file(name))]
        if recorded:
            raise RunFolderError(
                f"{folder.path} holds a run ({', '.join(recorded)}) but its checkpoint {path} is missing. "
                "Restore it from a copy, or start again with --overwrite (which deletes this run's files) or in "
                "another folder."
            )
        return None
    state = read_state(path)
    if identity is not None:
        differences = identity_differences(state["identity"], identity, resumable)
        if differences:
            raise RunFolderError(
                f"{path} is the checkpoint of another run ({'; '.join(differences)}); use another folder, or "
                "--overwrite."
            )
    return state


def fit_run(model, batches, folder, epochs, identity, *, resumable=(), records=(), max_steps=None,
            checkpoint_every=None, validation_data=None, hooks=(), on_epoch=None, callbacks=(), verbose="auto"):
    """Trains `model` for `epochs` epochs of `batches` as one resumable run in `folder`.

    A new folder starts at step 0; a folder holding this run's checkpoint
    resumes it exactly (see the module docstring). Asking for more epochs
    extends a run; fewer than it has trained is refused.

    Args:
        model: a compiled model (e.g. `MarginClassifier`), built.
        batches: the training `tf_wsoftmax.data.EpochBatches` (or any batches
            with `batches_per_epoch`, `set_epoch` and `window`).
        folder: an open `tf_wsoftmax.training.RunFolder`.
        epochs: the run's epochs.
        identity: the run's identity (resolved config and data fingerprint),
            kept in the checkpoint and compared on resume.
        resumable: identity keys allowed to change between calls.
        records: the caller's files derived from the checkpoint (e.g.
            "metrics.json"): with them but no checkpoint, the run is refused
            as one whose checkpoint was lost, never restarted silently.
        max_steps: stop at this step (inside an epoch). Defaults to None.
        checkpoint_every: steps between checkpoints besides the epoch ends
            and hooks. Defaults to None.
        validation_data: optional data `fit` evaluates after each epoch.
        hooks: `StepHook`s.
        on_epoch: optional function called with each epoch's record after
            its checkpoint is written.
        callbacks: more Keras callbacks.
        verbose: `fit`'s verbosity.

    Returns:
        The run state (dict): "step", "history" (every epoch of the run),
        "hooks" ({name: records}), "calls" (timing of each call: from_step,
        to_step, seconds, backend), "identity"; plus "resumed_from_step" of
        this call (None for a new run).

    Raises:
        RunFolderError: a checkpoint of another run, a lost checkpoint, or
            fewer epochs than trained.
        CheckpointError: a damaged checkpoint.
        FloatingPointError: a non-finite loss or weight (nothing is saved).
    """
    steps_per_epoch = batches.batches_per_epoch
    total = epochs * steps_per_epoch if max_steps is None else min(max_steps, epochs * steps_per_epoch)
    saved = run_state(folder, identity, resumable, records)
    if saved is None:
        state = {"step": 0, "identity": identity, "history": [], "hooks": {}, "calls": []}
        resumed = None
    else:
        state = load_run(folder.file(CHECKPOINT_FILE), model)
        state = {key: state[key] for key in ("step", "history", "hooks", "calls")} | {"identity": identity}
        resumed = state["step"]
        if int(keras.ops.convert_to_numpy(model.optimizer.iterations)) != resumed:
            raise CheckpointError(f"{folder.file(CHECKPOINT_FILE)}: its step and its optimizer's step differ.")
    if state["step"] > total:
        raise RunFolderError(
            f"{folder.path} has trained {state['step']} steps ({state['step'] / steps_per_epoch:g} epochs of "
            f"{steps_per_epoch} steps); this call would end at step {total}. Ask for at least "
            f"{math.ceil(state['step'] / steps_per_epoch)} epochs."
        )
    if saved is not None:
        write_history(folder, state)  # a kill may have come between the checkpoint and its history
    run = _Run(folder, state, steps_per_epoch, total, checkpoint_every, hooks, on_epoch)
    epoch, done = divmod(state["step"], steps_per_epoch)
    metric_values = [keras.ops.convert_to_numpy(v) for v in model.metrics_variables] if done else None
    while state["step"] < total and not getattr(model, "stop_training", False):
        epoch, done = divmod(state["step"], steps_per_epoch)
        last = min(total, (epoch + 1) * steps_per_epoch) - epoch * steps_per_epoch
        if done or last < steps_per_epoch:  # part of one epoch: the rest of an interrupted one, or the last
            data, until = batches.window(epoch, done, last), epoch + 1
        else:  # whole epochs up to the last whole one
            data, until = batches, total // steps_per_epoch
        recorder = _RunRecorder(run, data, metric_values)
        metric_values = None
        model.fit(data, epochs=until, initial_epoch=epoch, validation_data=validation_data,
                  callbacks=[recorder, *callbacks], verbose=verbose, shuffle=False)  # the batches set the order
    return dict(state, resumed_from_step=resumed)
