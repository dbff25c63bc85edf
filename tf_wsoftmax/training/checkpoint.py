"""The run checkpoint: one file that holds a whole training run.

A checkpoint is a ZIP archive (stored, not compressed) of

- `state.json`: the format tag, the step, the run's identity (its resolved
  config and the fingerprint of its data), the history of its epochs, the
  records of its step hooks, its timing and the path, shape and dtype of
  every array;
- `arrays/00000.npy`, ...: every variable of the run in a fixed order
  (`run_variables`): the model's weights and state (schedule counters, the
  class sampler's seed and step, centres, batch-norm statistics, seed
  generators), the optimizer's slots and step, the metrics' running sums.

It is written to a temporary name, flushed to disk, renamed over the old one
and the folder synced (`write_checkpoint`), so a kill leaves the old
checkpoint or the new one, never half of one. Reading (`read_checkpoint`)
refuses anything that is not such a file with an error naming the file:
ZIP's CRC-32 catches damaged bytes, the `.npy` headers are checked against
the variables they must fill before a byte is allocated (a file of a few KB
cannot claim GBs), arrays are loaded without pickle, and non-finite weights
are refused. NumPy's `.npy` and Python's `zipfile` are the whole format:
Keras' `.weights.h5` holds weights only, and HDF5 locks the file.
"""

import json
import os
import zipfile

import numpy as np

FORMAT = "tf_wsoftmax.run_checkpoint/1"
STATE_MEMBER = "state.json"
# The state of a run is small JSON (config, history, hooks); a larger member is not one of ours.
MAX_STATE_BYTES = 64 * 2**20


class CheckpointError(ValueError):
    """A run checkpoint that cannot be used; the message names the file and the way out."""


def run_variables(model):
    """Every variable of a training run, in a fixed order, each once.

    Args:
        model: a compiled Keras model whose optimizer is built.

    Returns:
        The model's `variables` (weights, non-trainable state, seed
        generators), then the optimizer's, then the metrics'.
    """
    seen, ordered = set(), []
    for variable in [*model.variables, *model.optimizer.variables, *model.metrics_variables]:
        if id(variable) not in seen:
            seen.add(id(variable))
            ordered.append(variable)
    return ordered


def describe(variables):
    """{path, shape, dtype} of each variable, as the checkpoint records them."""
    return [
        {"path": variable.path, "shape": list(variable.shape), "dtype": str(np.dtype(variable.dtype))}
        for variable in variables
    ]


def partial_name(path):
    """The temporary name a writer of `path` uses: `<path>.partial-<pid>`."""
    return f"{path}.partial-{os.getpid()}"


def write_atomically(path, write):
    """Calls `write(file)` on `<path>.partial-<pid>`, then fsync, rename over `path`, fsync of the folder.

    A kill leaves the old file or the new one (and at worst a partial file,
    which `RunFolder` removes at the next start); an error removes the
    partial file and propagates.
    """
    temporary = partial_name(path)
    try:
        with open(temporary, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    folder = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def write_checkpoint(path, arrays, state):
    """Writes a checkpoint atomically (`write_atomically`).

    Args:
        path: the checkpoint file.
        arrays: NumPy arrays, in `run_variables` order.
        state: the JSON-able state (its "arrays" entry is filled in here).
    """
    state = dict(state, format=FORMAT, arrays=[{"shape": list(a.shape), "dtype": str(a.dtype)} for a in arrays])

    def write(raw):
        with zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            archive.writestr(STATE_MEMBER, json.dumps(state, sort_keys=True, allow_nan=False))
            for index, array in enumerate(arrays):
                with archive.open(f"arrays/{index:05d}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.require(array, requirements="C"), allow_pickle=False)

    write_atomically(path, write)


def _broken(path, problem):
    return CheckpointError(
        f"{path} is not a readable run checkpoint ({problem}). Restore the file from a copy, or start "
        "the run again in a new folder (or with --overwrite, which deletes this run's files)."
    )


def read_state(path):
    """The `state.json` of a checkpoint (cheap: the arrays are not read).

    Raises:
        CheckpointError: not a checkpoint of this format, or damaged.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(STATE_MEMBER)
            if info.file_size > MAX_STATE_BYTES:
                raise _broken(path, f"its state is {info.file_size} bytes")
            state = json.loads(archive.read(STATE_MEMBER))
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, OSError, EOFError, ValueError) as error:
        raise _broken(path, f"{type(error).__name__}: {error}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise _broken(path, f"not the {FORMAT} format")
    for key, kind in (("step", int), ("identity", dict), ("history", list), ("arrays", list)):
        if not isinstance(state.get(key), kind) or isinstance(state.get(key), bool):
            raise _broken(path, f"its state has no valid '{key}'")
    return state


def _read_array(archive, name, shape, dtype, path):
    """One `.npy` member, its header checked against the expected shape and dtype before reading."""
    with archive.open(name) as member:
        version = np.lib.format.read_magic(member)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version not in read_header:
            raise _broken(path, f"{name} has .npy version {version}")
        stored_shape, fortran, stored_dtype = read_header[version](member)
        if tuple(stored_shape) != tuple(shape) or stored_dtype != np.dtype(dtype) or stored_dtype.hasobject:
            raise _broken(path, f"{name} holds {stored_dtype}{list(stored_shape)}, expected {dtype}{list(shape)}")
        data = member.read(stored_dtype.itemsize * int(np.prod(stored_shape, dtype=np.int64)))
        member.read()  # to the end: the CRC-32 is checked there
    array = np.frombuffer(data, stored_dtype)
    if array.size != int(np.prod(stored_shape, dtype=np.int64)):
        raise _broken(path, f"{name} is truncated")
    return array.reshape(stored_shape, order="F" if fortran else "C")


def read_checkpoint(path, expected):
    """Reads a checkpoint whose arrays must match `expected` ({path, shape, dtype} per variable).

    Args:
        path: the checkpoint file.
        expected: `describe(run_variables(model))` of the model to restore.

    Returns:
        (state, arrays).

    Raises:
        CheckpointError: a damaged or foreign file, arrays of another model,
            or non-finite values (each naming the file).
    """
    state = read_state(path)
    stored = state["arrays"]
    if len(stored) != len(expected) or any(
        list(s.get("shape", [])) != list(e["shape"]) for s, e in zip(stored, expected)
    ):
        differing = next(
            (
                (e["path"], list(s.get("shape", [])), list(e["shape"]))
                for s, e in zip(stored, expected) if list(s.get("shape", [])) != list(e["shape"])
            ),
            None,
        )
        if differing is None:
            raise CheckpointError(
                f"{path} holds the state of another model (first difference: {len(stored)} arrays for "
                f"{len(expected)} variables). Use the folder of this run's own settings, or a new one."
            )
        name, stored_shape, expected_shape = differing
        hint = ""
        if len(expected_shape) == 2 and stored_shape == expected_shape[::-1]:
            hint = (
                " A class-sampling head (sample_rate < 1) stores its kernel class-major, (K, d); this file holds "
                "it (d, K), as a head at rate 1 or a tf_wsoftmax before the class-major layout wrote it."
            )
        raise CheckpointError(
            f"{path} holds the state of another model (first difference: {name} has shape {stored_shape} in the "
            f"file, {expected_shape} in the model).{hint} Use the folder of this run's own settings, or a new one."
        )
    arrays = []
    try:
        with zipfile.ZipFile(path) as archive:
            for index, (record, variable) in enumerate(zip(stored, expected)):
                array = _read_array(archive, f"arrays/{index:05d}.npy", variable["shape"], record["dtype"], path)
                if array.dtype.kind == "f" and not np.isfinite(array).all():
                    raise _broken(path, f"non-finite values in {variable['path']}")
                arrays.append(array)
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, ValueError) as error:
        raise _broken(path, f"{type(error).__name__}: {error}") from None
    return state, arrays


def save_run(path, model, state):
    """Writes the model's `run_variables` and `state` to the checkpoint `path` (atomically).

    Args:
        path: the checkpoint file.
        model: the compiled model (on JAX, its state synced to its variables).
        state: the JSON-able run state (step, identity, history, hooks, timing).

    Raises:
        FloatingPointError: a weight or optimizer value is NaN or infinite
            (such a state is never saved).
    """
    variables = run_variables(model)
    arrays = [np.asarray(variable.numpy()) for variable in variables]
    for variable, array in zip(variables, arrays):
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise FloatingPointError(
                f"Non-finite values in {variable.path} at step {state['step']}; stopping before checkpointing "
                "them. Lower the learning rate or check the data; a restart resumes from the last checkpoint."
            )
    write_checkpoint(path, arrays, dict(state, variables=describe(variables)))


def load_run(path, model):
    """Restores the model's `run_variables` from the checkpoint `path`.

    Args:
        path: the checkpoint file.
        model: the compiled model, built like the one that wrote it (its
            optimizer is built here if needed).

    Returns:
        The checkpoint's state.

    Raises:
        CheckpointError: see `read_checkpoint`.
    """
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    variables = run_variables(model)
    state, arrays = read_checkpoint(path, describe(variables))
    for variable, array in zip(variables, arrays):
        variable.assign(array.astype(np.dtype(variable.dtype), copy=False))
    return state
