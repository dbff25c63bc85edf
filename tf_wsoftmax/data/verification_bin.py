"""InsightFace's verification sets (`lfw.bin`, `cfp_fp.bin`, `agedb_30.bin`, ...).

A `.bin` is a pickle of `(bins, issame_list)`: `bins` holds 2N encoded
images (JPEG / PNG bytes), pair i being images 2i and 2i + 1, and
`issame_list` N booleans. The files were written by Python 2 (strings load as
bytes) or, by InsightFace's newer scripts, with protocol 5 and NumPy arrays.
They are read with an unpickler that builds only lists, tuples, bytes,
numbers, booleans and NumPy arrays: a pickle can run code, and a
verification set has no reason to. Nothing it builds is larger than the
file's own bytes (a `bytearray(n)` call, which would allocate n zero bytes
from a few-byte pickle, is refused), and each image's header size is checked
against `tf_wsoftmax.data.images.MAX_PIXELS` before it is decoded.
"""

import pickle

import numpy as np

from tf_wsoftmax.data.images import MAX_PIXELS
from tf_wsoftmax.data.images import decode_image


def _bytearray_of_data(*args):
    """`bytearray` for pickles: only from bytes the file holds, never `bytearray(n)` zeros."""
    if len(args) > 1 or (args and not isinstance(args[0], (bytes, bytearray, memoryview))):
        raise pickle.UnpicklingError("refusing builtins.bytearray of a size (a verification set holds data only)")
    return bytearray(*args)


_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),  # protocol 5 arrays (NumPy 1 name)
    ("numpy._core.numeric", "_frombuffer"),  # protocol 5 arrays (NumPy 2 name)
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),  # how protocol 2 stores bytes
}


class VerificationFileError(ValueError):
    """A `.bin` verification set that cannot be read (the message names the file and what is wrong)."""


class _DataOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if name == "bytearray" and module in ("builtins", "__builtin__"):
            return _bytearray_of_data
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} (a verification set holds data only)")


def _decode(data, index, path, max_pixels):
    try:
        return decode_image(data, f"{path}: image {index} (pair {index // 2})", max_pixels)
    except ValueError as error:
        raise VerificationFileError(str(error)) from None


def _issame_flags(issame, path):
    """The pair flags as a bool array; anything but booleans (or 0 / 1 integers) is an error."""
    values = list(issame) if isinstance(issame, (list, tuple)) else issame
    array = np.asarray(values)
    if array.ndim != 1:
        raise VerificationFileError(f"{path}: issame_list must be a flat list of booleans, got shape {array.shape}")
    if array.dtype == bool or not array.size:
        return array.astype(bool)
    if np.issubdtype(array.dtype, np.integer):
        bad = [v for v in array.tolist() if v not in (0, 1)]
    else:
        bad = [v for v in values if not isinstance(v, (bool, np.bool_))]
    if bad:
        raise VerificationFileError(f"{path}: issame_list must hold booleans; found {bad[0]!r}")
    return array.astype(bool)


def load_verification_bin(path, max_pixels=MAX_PIXELS):
    """Reads a verification set.

    Args:
        path: the `.bin` file.
        max_pixels: the largest image decoded (its header is read first).
            Defaults to `MAX_PIXELS`.

    Returns:
        (images uint8 (2N, H, W, 3), issame bool (N,)).

    Raises:
        FileNotFoundError, VerificationFileError: a missing, unreadable or
            malformed file, an undecodable or too large image (naming its
            index), images of different sizes, issame flags that are not
            booleans, or 2N images for a different N.
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
    issame = _issame_flags(issame, path)
    if not isinstance(bins, (list, tuple)):
        raise VerificationFileError(f"{path}: bins must be a list of encoded images")
    if len(bins) != 2 * len(issame):
        raise VerificationFileError(f"{path}: {len(bins)} images for {len(issame)} pairs (expected {2 * len(issame)})")
    images = [_decode(data, index, path, max_pixels) for index, data in enumerate(bins)]
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
