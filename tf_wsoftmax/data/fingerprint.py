"""The identity of a run's data: sizes, a hash of every label and a hash of a sample of the records.

Cheap at face-pack scale (the labels, plus `SAMPLE` records read whole), and
it changes when the data does in any way a run would notice: another number
of examples, shuffled or relabelled examples, other images. Two folders
holding the same data have the same fingerprint, wherever they are.
"""

import hashlib

import numpy as np

# Records hashed whole (evenly spaced over the data, the first and last included).
SAMPLE = 64


def sample_indices(count, sample=SAMPLE):
    """`sample` evenly spaced indices in [0, count) (all of them when count <= sample)."""
    if count <= sample:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, sample).round().astype(np.int64))


def _digest(chunks):
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def labels_digest(labels):
    """SHA-256 of the labels as little-endian int64."""
    return _digest([np.ascontiguousarray(np.asarray(labels), dtype="<i8").tobytes()])


def array_fingerprint(images, labels):
    """The fingerprint of in-memory examples.

    Args:
        images: (N, ...) array.
        labels: (N,) integer labels.

    Returns:
        dict: "examples", "shape" (of one example), "dtype", "labels_sha256"
        and "sample_sha256" (of `SAMPLE` evenly spaced examples' bytes).
    """
    images = np.asarray(images)
    picked = sample_indices(len(images))
    return {
        "examples": int(len(images)),
        "shape": list(images.shape[1:]),
        "dtype": str(images.dtype),
        "labels_sha256": labels_digest(labels),
        "sample_sha256": _digest(np.ascontiguousarray(images[i]).tobytes() for i in picked),
    }


def records_fingerprint(count, labels, read_record):
    """The fingerprint of examples read from files (face packs, image folders).

    Args:
        count: N.
        labels: (N,) integer labels.
        read_record: `index -> bytes` of one stored record (encoded image).

    Returns:
        dict: "examples", "labels_sha256" and "sample_sha256" (of `SAMPLE`
        evenly spaced records' bytes).
    """
    return {
        "examples": int(count),
        "labels_sha256": labels_digest(labels),
        "sample_sha256": _digest(read_record(int(i)) for i in sample_indices(count)),
    }
