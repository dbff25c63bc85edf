"""InsightFace's verification sets (`lfw.bin`, `cfp_fp.bin`, `agedb_30.bin`, ...).

A `.bin` is a pickle of `(bins, issame_list)`: `bins` holds 2N encoded
images (JPEG / PNG bytes), pair i being images 2i and 2i + 1, and
`issame_list` N booleans. The files were written by Python 2, so strings load
as bytes. They are read with an unpickler that builds only lists, tuples,
bytes, numbers, booleans and NumPy arrays: a pickle can run code, and a
verification set has no reason to.
"""

import io
import pickle

import numpy as np

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("builtins", "bytearray"),
    ("_codecs", "encode"),  # how protocol 2 stores bytes
}


class VerificationFileError(ValueError):
    """A `.bin` verification set that cannot be read (the message names the file and what is wrong)."""


class _DataOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} (a verification set holds data only)")


def _decode(data, index, path):
    from PIL import Image

    try:
        with Image.open(io.BytesIO(bytes(data))) as image:
            return np.asarray(image.convert("RGB"))
    except Exception as error:  # PIL raises several types for bad bytes
        raise VerificationFileError(f"{path}: image {index} (pair {index // 2}) cannot be decoded: {error}")


def load_verification_bin(path):
    """Reads a verification set.

    Args:
        path: the `.bin` file.

    Returns:
        (images uint8 (2N, H, W, 3), issame bool (N,)).

    Raises:
        FileNotFoundError, VerificationFileError: a missing, unreadable or
            malformed file, an undecodable image (naming its index), images
            of different sizes, or 2N images for a different N.
    """
    try:
        with open(path, "rb") as f:
            content = _DataOnlyUnpickler(f, encoding="bytes").load()
    except FileNotFoundError:
        raise FileNotFoundError(f"Verification set {path} not found")
    except Exception as error:
        raise VerificationFileError(f"{path}: not a verification .bin pickle ({type(error).__name__}: {error})")
    if not isinstance(content, (tuple, list)) or len(content) != 2:
        raise VerificationFileError(f"{path}: expected a pickled (bins, issame_list) pair")
    bins, issame = content
    issame = np.asarray(issame, dtype=bool).reshape(-1)
    if len(bins) != 2 * len(issame):
        raise VerificationFileError(f"{path}: {len(bins)} images for {len(issame)} pairs (expected {2 * len(issame)})")
    images = [_decode(data, index, path) for index, data in enumerate(bins)]
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        raise VerificationFileError(f"{path}: images of different sizes {sorted(shapes)}")
    return np.stack(images) if images else np.zeros((0, 0, 0, 3), np.uint8), issame


def write_verification_bin(path, encoded_images, issame):
    """Writes a verification set in InsightFace's format (for tests and new sets).

    Args:
        path: the `.bin` to write.
        encoded_images: 2N JPEG / PNG byte strings, pair i = images 2i, 2i + 1.
        issame: N booleans.
    """
    encoded_images, issame = list(encoded_images), [bool(s) for s in issame]
    if len(encoded_images) != 2 * len(issame):
        raise ValueError(f"{len(encoded_images)} images for {len(issame)} pairs")
    with open(path, "wb") as f:
        pickle.dump((encoded_images, issame), f, protocol=2)
