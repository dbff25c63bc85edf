"""Decoding faces inside a TensorFlow graph: the serving signatures of an exported embedder.

Training, verification and LFW read faces in NumPy (`tf_wsoftmax.data.face_batches`), on every
backend; the same pixel rule (libjpeg's accurate integer DCT) and size limit apply here.
"""

import tensorflow as tf

from tf_wsoftmax.data.images import JPEG_SIGNATURE as _JPEG
from tf_wsoftmax.data.images import MAX_PIXELS
from tf_wsoftmax.data.images import PNG_SIGNATURE as _PNG


def standardize_face(image):
    """The paper's pixel scaling: (x - 127.5) / 128, float32."""
    return (tf.cast(image, tf.float32) - 127.5) / 128.0


def _header_integer(data, offset, size, big_endian):
    """The unsigned integer of `size` bytes at `offset` of a string tensor (int64)."""
    raw = tf.cast(tf.io.decode_raw(tf.strings.substr(data, offset, size, unit="BYTE"), tf.uint8), tf.int64)
    weights = tf.constant([256**k for k in (range(size - 1, -1, -1) if big_endian else range(size))], tf.int64)
    return tf.reduce_sum(raw * weights)


def stated_pixels(data):
    """Width x height that the header of JPEG, PNG, GIF or BMP bytes states (no decoding); -1 for other bytes."""
    prefix = lambda n: tf.strings.substr(data, 0, n, unit="BYTE")  # noqa: E731
    long_enough = tf.strings.length(data) >= 26

    def png():  # IHDR: big-endian uint32 width and height at bytes 16 and 20
        return _header_integer(data, 16, 4, True) * _header_integer(data, 20, 4, True)

    def jpeg():
        shape = tf.cast(tf.image.extract_jpeg_shape(data), tf.int64)
        return shape[0] * shape[1]

    def gif():  # logical screen: little-endian uint16 width and height at bytes 6 and 8
        return _header_integer(data, 6, 2, False) * _header_integer(data, 8, 2, False)

    def bmp():  # BITMAPINFOHEADER: little-endian int32 width and height (negative: top-down) at 18 and 22
        height = _header_integer(data, 22, 4, False)
        height = tf.where(height >= 2**31, 2**32 - height, height)
        return _header_integer(data, 18, 4, False) * height

    return tf.case(
        [
            (tf.logical_and(long_enough, tf.equal(prefix(8), _PNG)), png),
            (tf.equal(prefix(3), _JPEG), jpeg),
            (tf.logical_and(long_enough, tf.logical_or(tf.equal(prefix(6), b"GIF87a"), tf.equal(prefix(6), b"GIF89a"))), gif),
            (tf.logical_and(long_enough, tf.equal(prefix(2), b"BM")), bmp),
        ],
        default=lambda: tf.constant(-1, tf.int64),
        exclusive=True,
    )


def assert_jpeg_or_png(data, where=None):
    """An assertion that `data` holds JPEG or PNG bytes (what the serving signature accepts).

    Args:
        data: a scalar string tensor.
        where: what the message names (a string or a string tensor, e.g.
            "item 3 of `images`"). Defaults to None.
    """
    is_png = tf.logical_and(tf.strings.length(data) >= 24, tf.strings.substr(data, 0, 8, unit="BYTE") == _PNG)
    is_jpeg = tf.strings.substr(data, 0, 3, unit="BYTE") == _JPEG
    return tf.debugging.Assert(
        tf.logical_or(is_png, is_jpeg), ["`images` must hold JPEG or PNG bytes"] + ([] if where is None else [where])
    )


def encoded_image_pixels(data):
    """Width x height of encoded JPEG or PNG bytes, read from the header (no decoding).

    Raises `InvalidArgumentError` for bytes that are neither.
    """
    with tf.control_dependencies([assert_jpeg_or_png(data)]):
        return stated_pixels(data)


def decode_stored_image(data):
    """Decodes JPEG / PNG bytes to uint8 (H, W, 3), JPEG with the accurate integer DCT.

    TensorFlow's default JPEG decoder (the fast DCT) differs from PIL,
    OpenCV and MXNet by up to 8 levels on most pixels; INTEGER_ACCURATE gives
    their pixels exactly, so packs, folders and `.bin` sets (read with PIL)
    decode alike. Corrupt bytes raise `tf.errors.InvalidArgumentError`.
    """
    return tf.cond(
        tf.io.is_jpeg(data),
        lambda: tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE"),
        lambda: tf.ensure_shape(tf.io.decode_image(data, channels=3, expand_animations=False), (None, None, 3)),
    )


def decode_face_bytes(data, image_size, max_pixels=MAX_PIXELS, where=None):
    """Decodes encoded JPEG/PNG bytes to a (size, size, 3) uint8 tensor (resized).

    The size the header states is checked against `max_pixels` first. Bytes
    that are not JPEG / PNG, corrupt bytes and images over the limit raise
    `tf.errors.InvalidArgumentError` (naming `where`, e.g. the file, if given).
    """
    pixels = stated_pixels(data)  # -1 (no limit known) for formats the decoder then refuses
    limit = tf.debugging.Assert(
        pixels <= max_pixels,
        [f"an image has more than max_pixels={max_pixels} pixels:"] + ([] if where is None else [where]) + [pixels],
    )
    with tf.control_dependencies([limit]):
        image = decode_stored_image(data)
    image = tf.image.resize(image, (image_size, image_size), antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
