"""Dataset sources: tensorflow-datasets, local IDX / CIFAR files, scikit-learn's digits."""

import dataclasses
import os
import socket

import numpy as np

from tf_wsoftmax.data.cifar import CIFAR_LAYOUTS
from tf_wsoftmax.data.cifar import cifar_directory
from tf_wsoftmax.data.cifar import load_cifar_dataset
from tf_wsoftmax.data.digits import load_digits_split
from tf_wsoftmax.data.idx import IDX_FILES
from tf_wsoftmax.data.idx import find_idx_file
from tf_wsoftmax.data.idx import load_idx_dataset


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """What a dataset is: classes, image shape, local layout and known system folders."""

    num_classes: int
    image_shape: tuple
    local_format: str  # "idx", "cifar" or "sklearn"
    system_dirs: tuple = ()


DATASETS = {
    "digits": DatasetSpec(10, (8, 8, 1), "sklearn"),
    "mnist": DatasetSpec(10, (28, 28, 1), "idx", ("/usr/share/datasets/mnist",)),
    "fashion_mnist": DatasetSpec(10, (28, 28, 1), "idx", ("/usr/share/datasets/fashion-mnist",)),
    "cifar10": DatasetSpec(10, (32, 32, 3), "cifar"),
    "cifar100": DatasetSpec(100, (32, 32, 3), "cifar"),
}


@dataclasses.dataclass(frozen=True)
class LoadedDataset:
    """Train and test arrays of one dataset.

    Args:
        name: dataset name.
        train: (images uint8 (N, H, W, C), labels int32 (N,)).
        test: same for the test split.
        num_classes: K (after any class subset).
        source: where the data came from, for logs and metrics.
    """

    name: str
    train: tuple
    test: tuple
    num_classes: int
    source: str


def _local(name, directory):
    spec = DATASETS[name]
    if spec.local_format == "idx":
        if find_idx_file(directory, IDX_FILES["train_images"]) is None:
            return None
        return load_idx_dataset(directory)
    folder = cifar_directory(directory, name)
    return None if folder is None else load_cifar_dataset(folder, name)


# Where tensorflow-datasets downloads each dataset from (checked before a
# download so that an offline machine fails in seconds, not after minutes of retries).
DOWNLOAD_HOSTS = {
    "mnist": ("storage.googleapis.com", 443),
    "fashion_mnist": ("fashion-mnist.s3-website.eu-central-1.amazonaws.com", 80),
    "cifar10": ("www.cs.toronto.edu", 443),
    "cifar100": ("www.cs.toronto.edu", 443),
}


def can_reach(host, port, timeout=3.0):
    """True if a TCP connection to host:port opens within `timeout` seconds."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def _tfds(name, data_dir, download):
    import tensorflow_datasets as tfds

    train, test = tfds.as_numpy(
        tfds.load(
            name,
            split=["train", "test"],
            as_supervised=True,
            batch_size=-1,
            data_dir=data_dir,
            download=download,
        )
    )
    return (train[0], train[1].astype(np.int32)), (test[0], test[1].astype(np.int32))


def _digits(seed):
    (x_train, y_train), (x_test, y_test) = load_digits_split(seed=seed)
    to_uint8 = lambda x: np.round(x * 255.0).astype(np.uint8)  # noqa: E731
    return (to_uint8(x_train), y_train), (to_uint8(x_test), y_test)


def _how_to_provide(name):
    spec = DATASETS[name]
    if spec.local_format == "idx":
        files = ", ".join(f"{stem}[.gz]" for stem in IDX_FILES.values())
        return f"put the IDX files ({files}) in a folder and pass --data-dir FOLDER"
    folder = CIFAR_LAYOUTS[name][0]
    return f"extract the CIFAR python version ({folder}/) into a folder and pass --data-dir FOLDER"


def load_dataset(name, data_dir=None, classes=None, seed=0, download=True):
    """Loads a dataset's train and test arrays from the first source that works.

    Sources tried, in order: scikit-learn for "digits"; the local files in
    `data_dir` (IDX for mnist / fashion_mnist, the CIFAR pickle folders for
    cifar10 / cifar100); known system folders (Debian's
    `dataset-fashion-mnist` installs /usr/share/datasets/fashion-mnist);
    tensorflow-datasets (`tfds.load`, with `data_dir`, which downloads when
    the internet is there). A corrupt or truncated file raises at once; when
    no source works the error lists what was tried and how to provide files.

    Args:
        name: one of `DATASETS`.
        data_dir: optional folder with local files (also tfds' data_dir).
        classes: optional K: keep only the first K classes (the paper's
            Table 4).
        seed: the digits split seed (other datasets have fixed splits).
        download: let tensorflow-datasets download and prepare the data
            (False: use only data it already prepared). The download host is
            checked first (3 s); offline, only prepared data is used.

    Returns:
        A `LoadedDataset`.
    """
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset '{name}'. Known: {', '.join(sorted(DATASETS))}")
    spec = DATASETS[name]
    if classes is not None and not 2 <= classes <= spec.num_classes:
        raise ValueError(f"`classes` must be in [2, {spec.num_classes}] for {name}. Received: {classes}")
    tried = []
    arrays, source = None, None
    if spec.local_format == "sklearn":
        arrays, source = _digits(seed), "sklearn.datasets.load_digits"
    else:
        folders = ([data_dir] if data_dir else []) + list(spec.system_dirs)
        for folder in folders:
            if not os.path.isdir(folder):
                tried.append(f"{folder}: no such folder")
                continue
            arrays = _local(name, folder)
            if arrays is not None:
                source = f"local files in {folder}"
                break
            tried.append(f"{folder}: no {spec.local_format.upper()} files for {name}")
        if arrays is None:
            if download and not can_reach(*DOWNLOAD_HOSTS[name]):
                host, port = DOWNLOAD_HOSTS[name]
                tried.append(f"downloading {name}: {host}:{port} is unreachable (offline?), so no download was tried")
                download = False
            try:
                arrays, source = _tfds(name, data_dir, download), f"tensorflow_datasets ({name})"
            except Exception as error:  # tfds raises many types (download, checksum, ...)
                first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                tried.append(f"tensorflow_datasets.load('{name}'): {type(error).__name__}: {first_line[:300]}")
    if arrays is None:
        raise FileNotFoundError(
            f"Could not load dataset '{name}'. Tried:\n  - " + "\n  - ".join(tried)
            + f"\nTo provide it offline, {_how_to_provide(name)}."
        )
    (x_train, y_train), (x_test, y_test) = arrays
    num_classes = spec.num_classes
    if classes is not None:
        keep_train, keep_test = y_train < classes, y_test < classes
        x_train, y_train, x_test, y_test = x_train[keep_train], y_train[keep_train], x_test[keep_test], y_test[keep_test]
        num_classes = classes
    return LoadedDataset(name, (x_train, y_train), (x_test, y_test), num_classes, source)
