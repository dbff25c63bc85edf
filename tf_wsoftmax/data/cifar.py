"""Reader for the CIFAR-10 / CIFAR-100 "python version" pickle folders.

The batches are pickles (Python 2's, protocol 2); they are read with the
restricted unpickler of `tf_wsoftmax.data.safe_pickle`, which builds a dict of
byte-string keys, byte strings, lists of ints and uint8 (or integer label)
arrays and nothing callable, so a crafted `data_batch_1` cannot run code.
"""

import os
import pickle

import numpy as np

from tf_wsoftmax.data.idx import DataFileError
from tf_wsoftmax.data.safe_pickle import RestrictedPickleError
from tf_wsoftmax.data.safe_pickle import load_data_pickle

# What a batch may hold: uint8 pixels; labels as lists of ints or (newer writers) integer arrays.
_BATCH_DTYPES = ("uint8", "int8", "int16", "int32", "int64", "uint16", "uint32", "uint64")

CIFAR_LAYOUTS = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], b"labels"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], b"fine_labels"),
}


def _read_batch(path, label_key):
    try:
        batch = load_data_pickle(path, allowed_dtypes=_BATCH_DTYPES, allow_dicts=True)
    except RestrictedPickleError as error:
        raise DataFileError(f"Refusing CIFAR batch {error}") from None
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as error:
        raise DataFileError(f"Cannot read CIFAR batch {path}: {error}") from error
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        raise DataFileError(f"{path} is not a CIFAR batch (needs keys b'data' and {label_key!r}).")
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[label_key], dtype=np.int32)
    if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
        raise DataFileError(
            f"{path}: data {data.shape} and labels {labels.shape} are not (N, 3072) / (N,)."
        )
    # Rows are 1024 red, 1024 green, 1024 blue values of a 32x32 image.
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def cifar_directory(data_dir, name):
    """The CIFAR folder under `data_dir` (or `data_dir` itself), or None."""
    folder, train_files, _, _ = CIFAR_LAYOUTS[name]
    for candidate in (os.path.join(data_dir, folder), data_dir):
        if os.path.isfile(os.path.join(candidate, train_files[0])):
            return candidate
    return None


def load_cifar_dataset(directory, name):
    """Loads a CIFAR python-pickle folder.

    Args:
        directory: the extracted `cifar-10-batches-py` or `cifar-100-python`.
        name: "cifar10" or "cifar100".

    Returns:
        ((x_train, y_train), (x_test, y_test)): uint8 (N, 32, 32, 3), int32.
    """
    _, train_files, test_files, label_key = CIFAR_LAYOUTS[name]
    splits = []
    for files in (train_files, test_files):
        missing = [f for f in files if not os.path.isfile(os.path.join(directory, f))]
        if missing:
            raise FileNotFoundError(f"CIFAR files missing in {directory}: {', '.join(missing)}")
        parts = [_read_batch(os.path.join(directory, f), label_key) for f in files]
        splits.append((np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])))
    return tuple(splits)
