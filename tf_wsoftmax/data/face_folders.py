"""Face datasets from identity folders (CASIA-WebFace layout: root/<identity>/<image>)."""

import os

import numpy as np
import tensorflow as tf

from tf_wsoftmax.data.face_align import IMAGE_EXTENSIONS
from tf_wsoftmax.data.idx import DataFileError
from tf_wsoftmax.data.images import JPEG_SIGNATURE as _JPEG
from tf_wsoftmax.data.images import MAX_PIXELS
from tf_wsoftmax.data.images import PNG_SIGNATURE as _PNG

# Leading bytes of the formats `tf.io.decode_image` reads (WebP: "RIFF" + size + "WEBP").
IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")


def _is_image_header(head):
    return head.startswith(IMAGE_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def check_image_files(paths, shown=5):
    """Raises `DataFileError` naming the files that are empty or not JPEG/PNG/GIF/BMP/WebP.

    Reads the first 12 bytes of each file (cheap even for 10^5 files), so a bad
    file is named before training instead of failing inside the input
    pipeline with TensorFlow's "Unknown image file format".

    Args:
        paths: image paths.
        shown: how many bad files the message lists.
    """
    bad = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                head = f.read(12)
        except OSError as error:
            bad.append(f"{path} ({error.strerror})")
            continue
        if not _is_image_header(head):
            bad.append(f"{path} ({'empty' if not head else 'not a JPEG/PNG/GIF/BMP/WebP image'})")
    if bad:
        more = f" and {len(bad) - shown} more" if len(bad) > shown else ""
        raise DataFileError(f"{len(bad)} unreadable image file(s): {'; '.join(bad[:shown])}{more}.")


def list_identity_folders(root, min_images=1):
    """Image paths and integer labels of an identity-folder tree.

    Args:
        root: folder whose sub-folders are identities.
        min_images: identities with fewer images are left out.

    Returns:
        (paths, labels, identity names), labels in [0, number of identities).

    Raises:
        DataFileError: files that are not images (see `check_image_files`).
    """
    if not os.path.isdir(root):
        raise FileNotFoundError(f"Face folder {root} does not exist.")
    names, paths, labels = [], [], []
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        if not os.path.isdir(folder):
            continue
        images = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))
        if len(images) < min_images:
            continue
        label = len(names)
        names.append(name)
        paths += [os.path.join(folder, f) for f in images]
        labels += [label] * len(images)
    if not paths:
        raise ValueError(f"No identity folders with images found under {root}.")
    check_image_files(paths)
    return np.array(paths), np.array(labels, dtype=np.int32), names


def standardize_face(image):
    """The paper's pixel scaling: (x - 127.5) / 128, float32."""
    return (tf.cast(image, tf.float32) - 127.5) / 128.0


def decode_face(path, image_size, max_pixels=MAX_PIXELS):
    """Reads and decodes a JPEG/PNG file to a (size, size, 3) uint8 tensor.

    The size its header states is checked against `max_pixels` before
    decoding; the error names the file.
    """
    return decode_face_bytes(tf.io.read_file(path), image_size, max_pixels, where=path)


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


def training_face(image, index, seed, epoch, flip=True):
    """A decoded uint8 face as training input: seeded random flip (per example and epoch), standardised.

    Args:
        image: uint8 (S, S, 3).
        index: the example's position in the epoch (int64 scalar tensor).
        seed, epoch: the flip's seed is (seed, epoch, index), so a resumed epoch flips alike.
        flip: random horizontal flip.

    Returns:
        float32 (S, S, 3).
    """
    if flip:
        image = tf.image.stateless_random_flip_left_right(
            image, seed=tf.stack([tf.cast(seed * 100_003 + epoch, tf.int64), index])
        )
    return standardize_face(image)


def face_epoch_datasets(paths, labels, batch_size, image_size=160, seed=0, flip=True):
    """Returns `epoch -> Dataset` of standardised faces with a per-epoch permutation.

    Order: permute (NumPy, seeded by (seed, epoch)) -> from_tensor_slices ->
    map(decode, stateless random flip, standardise) -> batch (drop remainder,
    a fixed batch size for the margin heads) -> prefetch.

    Args:
        paths: image paths.
        labels: int labels.
        batch_size: batch size (the paper: 128).
        image_size: side the images are resized to. Defaults to 160.
        seed: shuffling / flipping seed.
        flip: random horizontal flip. Defaults to True.

    Returns:
        A callable epoch -> batched dataset of (images (B, S, S, 3) float32, labels).
    """
    paths, labels = np.asarray(paths), np.asarray(labels)

    def make(epoch):
        order = np.random.default_rng([seed, epoch]).permutation(len(labels))

        def load(index, example):
            path, label = example
            return training_face(decode_face(path, image_size), index, seed, epoch, flip), label

        dataset = tf.data.Dataset.from_tensor_slices((paths[order], labels[order])).enumerate()
        dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return dataset.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)

    return make
