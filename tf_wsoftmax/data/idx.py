"""Reader for the IDX files of MNIST and Fashion-MNIST (raw or gzipped)."""

import gzip
import os

import numpy as np

# IDX type codes (third byte of the magic number) -> numpy dtype.
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


class DataFileError(ValueError):
    """A data file is missing, unreadable, truncated or not in the expected format."""


def read_idx(path):
    """Reads one IDX file (optionally .gz) into a numpy array.

    Args:
        path: file path.

    Returns:
        The array, with the shape the header declares.

    Raises:
        DataFileError: bad magic number, unknown type, truncated data or an
            unreadable gzip stream; the message names the file.
    """
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as error:
        raise DataFileError(f"Cannot read IDX file {path}: {error}") from error
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise DataFileError(
            f"{path} is not an IDX file (bad magic number {data[:4].hex() or 'empty'}; "
            "expected 0x0000 then a type byte and the number of dimensions)."
        )
    ndim = data[3]
    header_size = 4 + 4 * ndim
    if ndim == 0 or len(data) < header_size:
        raise DataFileError(f"{path}: truncated IDX header ({len(data)} bytes, {ndim} dimensions).")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header_size != expected:
        raise DataFileError(
            f"{path}: the header declares shape {shape} ({expected} bytes of data) but the "
            f"file holds {len(data) - header_size} bytes (truncated or corrupt)."
        )
    return np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)


def find_idx_file(directory, stem):
    """Returns the path of `stem` or `stem.gz` in `directory`, or None."""
    for name in (stem, stem + ".gz"):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


def load_idx_dataset(directory):
    """Loads an MNIST-layout IDX folder.

    Args:
        directory: folder with train-images-idx3-ubyte[.gz] and the three
            other standard files.

    Returns:
        ((x_train, y_train), (x_test, y_test)): uint8 images (N, H, W, 1)
        and int32 labels.

    Raises:
        FileNotFoundError: a file is missing (the message lists which).
        DataFileError: a file is corrupt, or images and labels disagree.
    """
    paths = {key: find_idx_file(directory, stem) for key, stem in IDX_FILES.items()}
    missing = [IDX_FILES[k] + "[.gz]" for k, p in paths.items() if p is None]
    if missing:
        raise FileNotFoundError(f"IDX files missing in {directory}: {', '.join(missing)}")
    arrays = {key: read_idx(path) for key, path in paths.items()}
    splits = []
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataFileError(
                f"{directory}: {split} images {images.shape} and labels {labels.shape} do not "
                "form an (N, H, W) / (N,) pair."
            )
        splits.append((images[..., None].astype(np.uint8), labels.astype(np.int32)))
    return tuple(splits)
