"""Face datasets from identity folders (CASIA-WebFace layout: root/<identity>/<image>)."""

import os

import numpy as np
import tensorflow as tf

from tf_wsoftmax.data.face_align import IMAGE_EXTENSIONS
from tf_wsoftmax.data.idx import DataFileError

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


def decode_face(path, image_size):
    """Reads and decodes a JPEG/PNG file to a (size, size, 3) uint8 tensor."""
    return decode_face_bytes(tf.io.read_file(path), image_size)


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


def decode_face_bytes(data, image_size):
    """Decodes encoded JPEG/PNG bytes to a (size, size, 3) uint8 tensor (resized).

    Corrupt bytes raise `tf.errors.InvalidArgumentError`.
    """
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
