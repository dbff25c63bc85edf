"""The converged study's data: a fixed, stratified 6,000-image Fashion-MNIST training subset.

Command (repository root):
    PYTHONPATH=. /work/main/.venv/bin/python experiments/converged_study/subset.py \
        /work/study_runs/fashion_mnist_6k

Produces, in the folder: train-images-idx3-ubyte.gz / train-labels-idx1-ubyte.gz (the subset) and
t10k-images-idx3-ubyte.gz / t10k-labels-idx1-ubyte.gz (Debian's full 10,000-image test files, copied
byte for byte), and prints the SHA-256 of the four files and of the subset's uncompressed IDX bytes.
Expected: the hashes in PREREGISTRATION.md (a different hash is an error of `prepare` when
`expected` is given).

The rule (PREREGISTRATION.md, "Data"): perm = numpy.random.default_rng(2026).permutation(60000) over
the indices of Debian's 60,000 training images; for each class c = 0..9, the first 600 entries of
perm whose label is c; the 6,000 chosen indices are written in ascending order of their index in
Debian's file. The gzip streams are written with mtime 0, no file name and compression level 9,
so the output is the same bytes on every run (for one zlib; the uncompressed hashes never depend on it).
"""

import gzip
import hashlib
import os
import shutil
import sys

import numpy as np

SOURCE = "/usr/share/datasets/fashion-mnist"
SEED = 2026
PER_CLASS = 600
CLASSES = 10
TRAIN_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def subset_indices(labels, seed=SEED, per_class=PER_CLASS):
    """The rule: per class, the first `per_class` indices in a permutation seeded `seed`; ascending.

    Args:
        labels: (N,) int labels of the full training set.
        seed: seed of `numpy.random.default_rng`. Defaults to 2026.
        per_class: images per class. Defaults to 600.

    Returns:
        (K * per_class,) int64 indices into the full training set, ascending.
    """
    labels = np.asarray(labels)
    perm = np.random.default_rng(seed).permutation(len(labels))
    chosen = [perm[labels[perm] == c][:per_class] for c in range(int(labels.max()) + 1)]
    if any(len(c) != per_class for c in chosen):
        raise ValueError(f"A class has fewer than {per_class} images.")
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def idx_bytes(array):
    """The uncompressed IDX encoding of a uint8 array (magic 0x0000 08 ndim, big-endian dims)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_gzip(path, payload):
    """Writes `payload` gzip-compressed with fixed header fields (mtime 0, no name, level 9)."""
    temporary = f"{path}.partial-{os.getpid()}"
    with open(temporary, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                                                     compresslevel=9) as f:
        f.write(payload)
    os.replace(temporary, path)


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def prepare(out_dir, source=SOURCE, expected=None):
    """Writes the subset folder (idempotent) and returns its hashes.

    Args:
        out_dir: the folder to write (created).
        source: Debian's Fashion-MNIST folder. Defaults to /usr/share/datasets/fashion-mnist.
        expected: optional {name: sha256} (the pre-registered hashes): any mismatch raises.

    Returns:
        {file name: sha256 of the file, "train-images (uncompressed)": ..., "train-labels
        (uncompressed)": ..., "class counts": [...]}.
    """
    from tf_wsoftmax.data import read_idx

    os.makedirs(out_dir, exist_ok=True)
    images = read_idx(os.path.join(source, "train-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(source, "train-labels-idx1-ubyte.gz"))
    chosen = subset_indices(labels)
    payloads = dict(zip(TRAIN_FILES, (idx_bytes(images[chosen]), idx_bytes(labels[chosen]))))
    for name, payload in payloads.items():
        path = os.path.join(out_dir, name)
        if not os.path.exists(path) or gzip.open(path).read() != payload:
            write_gzip(path, payload)
    for name in TEST_FILES:
        path = os.path.join(out_dir, name)
        if not os.path.exists(path) or sha256(path) != sha256(os.path.join(source, name)):
            shutil.copyfile(os.path.join(source, name), path)
    hashes = {name: sha256(os.path.join(out_dir, name)) for name in TRAIN_FILES + TEST_FILES}
    hashes["train-images (uncompressed)"] = hashlib.sha256(payloads[TRAIN_FILES[0]]).hexdigest()
    hashes["train-labels (uncompressed)"] = hashlib.sha256(payloads[TRAIN_FILES[1]]).hexdigest()
    hashes["indices (int64 little-endian)"] = hashlib.sha256(chosen.astype("<i8").tobytes()).hexdigest()
    for name, value in (expected or {}).items():
        if hashes.get(name) != value:
            raise ValueError(f"{out_dir}: {name} has SHA-256 {hashes.get(name)}, pre-registered {value}")
    hashes["class counts"] = np.bincount(labels[chosen], minlength=CLASSES).tolist()
    return hashes


if __name__ == "__main__":
    for key, value in prepare(sys.argv[1] if len(sys.argv) > 1 else "/work/study_runs/fashion_mnist_6k").items():
        print(f"{key}: {value}")
