"""InsightFace's verification sets (`lfw.bin`, `cfp_fp.bin`, `agedb_30.bin`, ...).

A `.bin` is a pickle of `(bins, issame_list)`: `bins` holds 2N encoded
images (JPEG / PNG bytes), pair i being images 2i and 2i + 1, and
`issame_list` N booleans. The files were written by Python 2 (strings load as
bytes) or, by InsightFace's newer scripts, with protocol 5 and NumPy arrays.

A pickle can run code and multiply its bytes; a verification set has no
reason to do either. The file is read by `tf_wsoftmax.data.safe_pickle`,
which builds only containers, byte strings, booleans and uint8 / bool NumPy
arrays, and counts the bytes it builds against a small multiple of the
file's size while it unpickles. Before any image is decoded, the sizes their
headers state are checked: each against `max_pixels`, and their sum over the
whole set (an image referenced twice counts twice: it is decoded twice)
against `max_total_pixels`.
"""

import pickle

import numpy as np

from tf_wsoftmax.data.images import MAX_PIXELS
from tf_wsoftmax.data.images import ImageTooLargeError
from tf_wsoftmax.data.images import check_pixels
from tf_wsoftmax.data.images import decode_image
from tf_wsoftmax.data.images import encoded_size
from tf_wsoftmax.data.safe_pickle import RestrictedPickleError
from tf_wsoftmax.data.safe_pickle import load_data_pickle

# Decoded pixels of a whole set: 400 M pixels are 1.2 GB of uint8 RGB. InsightFace's sets are
# 12000 - 14000 images of 112 x 112 (150 - 176 M pixels); raise it with `max_total_pixels`.
MAX_SET_PIXELS = 400_000_000


class VerificationFileError(ValueError):
    """A `.bin` verification set that cannot be read (the message names the file and what is wrong)."""


def _image_sizes(bins, path, max_pixels, max_total_pixels):
    """(height, width) of every image from its header, checked against both limits before decoding.

    Raises:
        VerificationFileError: an entry that is not JPEG / PNG bytes, an
            image over `max_pixels`, or a set whose images add up to more
            than `max_total_pixels` (naming the image where the sum passes it).
    """
    sizes, total = [], 0
    for index, data in enumerate(bins):
        where = f"{path}: image {index} (pair {index // 2})"
        is_array = isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 1  # newer scripts
        if not (is_array or isinstance(data, (bytes, bytearray))):
            raise VerificationFileError(f"{where} is a {type(data).__name__}, not encoded image bytes")
        size = encoded_size(data)
        if size is None:
            raise VerificationFileError(
                f"{where} cannot be decoded: not a JPEG or PNG image (starts with {bytes(data[:8])!r})"
            )
        width, height = size
        try:
            check_pixels(width, height, where, max_pixels)
        except ImageTooLargeError as error:
            raise VerificationFileError(str(error)) from None
        total += width * height
        if total > max_total_pixels:
            raise VerificationFileError(
                f"{where}: the images up to this one state {total} pixels in all, more than "
                f"max_total_pixels={max_total_pixels} (repeated images count each time); pass a larger "
                "max_total_pixels to load a set this large"
            )
        sizes.append((height, width))
    return sizes


def _decode_all(bins, sizes, path, max_pixels):
    """Decodes every image into one preallocated (2N, H, W, 3) array (the headers gave the sizes)."""
    if not bins:
        return np.zeros((0, 0, 0, 3), np.uint8)
    if len(set(sizes)) > 1:
        raise VerificationFileError(f"{path}: images of different sizes {sorted(set(sizes))} (height, width)")
    images = np.empty((len(bins),) + sizes[0] + (3,), np.uint8)
    for index, data in enumerate(bins):
        where = f"{path}: image {index} (pair {index // 2})"
        try:
            image = decode_image(data, where, max_pixels)
        except ValueError as error:
            raise VerificationFileError(str(error)) from None
        if image.shape[:2] != sizes[0]:
            raise VerificationFileError(f"{where}: decodes to {image.shape[:2]}, not the {sizes[0]} its header states")
        images[index] = image
    return images


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


def load_verification_bin(path, max_pixels=MAX_PIXELS, max_total_pixels=MAX_SET_PIXELS):
    """Reads a verification set.

    Args:
        path: the `.bin` file.
        max_pixels: the largest image decoded (its header is read first).
            Defaults to `MAX_PIXELS` (40 M).
        max_total_pixels: the most pixels the whole set may decode to, summed
            over the headers of all 2N images before any is decoded (an image
            the pickle references twice counts twice). Defaults to
            `MAX_SET_PIXELS` (400 M, 1.2 GB of uint8 RGB).

    Returns:
        (images uint8 (2N, H, W, 3), issame bool (N,)).

    Raises:
        FileNotFoundError, VerificationFileError: a missing, unreadable or
            malformed file, a pickle that names code or builds more bytes
            than a small multiple of the file's size (`safe_pickle`), an
            undecodable or too large image (naming its index), a set over
            `max_total_pixels`, images of different sizes, issame flags that
            are not booleans, or 2N images for a different N.
    """
    try:
        content = load_data_pickle(path, allowed_dtypes=("uint8", "bool"))
    except FileNotFoundError:
        raise FileNotFoundError(f"Verification set {path} not found")
    except RestrictedPickleError as error:
        raise VerificationFileError(f"{error} (refused as a verification .bin)") from None
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
    sizes = _image_sizes(bins, path, max_pixels, max_total_pixels)
    return _decode_all(bins, sizes, path, max_pixels), issame


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
