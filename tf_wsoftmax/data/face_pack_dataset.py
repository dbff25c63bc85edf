"""Face packs as input: the image records of a `.rec` in a seeded order, and their `tf.data` pipelines.

`image_records` yields a worker's share of an epoch's permutation;
`recordio_dataset` decodes those records in parallel (exact pixels, each
header's size checked first), for custom TensorFlow loops. The runs of the
package read packs through `tf_wsoftmax.data.FaceBatches` (every backend).
The pack layout itself is `tf_wsoftmax.data.face_pack`.
"""

import numpy as np

from tf_wsoftmax.data.face_pack import RecordIOReader
from tf_wsoftmax.data.images import MAX_PIXELS
from tf_wsoftmax.data.images import ImageTooLargeError
from tf_wsoftmax.data.images import check_pixels
from tf_wsoftmax.data.images import encoded_size
from tf_wsoftmax.data.recordio_codec import RecordIOError


def image_records(rec_path, shuffle_seed=None, epoch=0, num_shards=1, shard_index=0):
    """Yields (key, encoded image bytes, label) of a pack's image records.

    Args:
        rec_path: the `.rec` file (its `.idx` beside it).
        shuffle_seed: None keeps the stored order; an int gives a permutation
            seeded by (shuffle_seed, epoch), the same on every worker.
        epoch: the epoch whose permutation to use.
        num_shards, shard_index: this worker's share (every num_shards-th
            record of the permuted order), for `tf.distribute` workers.

    Raises:
        RecordIOError: a corrupt or truncated record, or one whose payload is
            not a JPEG / PNG image (naming the record and its byte offset).
    """
    with RecordIOReader(rec_path) as reader:
        keys, labels = _selected_images(reader, shuffle_seed, epoch, num_shards, shard_index)
        yield from _read_images(reader, keys, labels)


def _selected_images(reader, shuffle_seed, epoch, num_shards, shard_index, images=None):
    """(keys, labels) of this worker's share of the epoch's order (see `image_records`).

    `images`: the pack's (keys, labels) if already read (`image_keys_and_labels`).
    """
    if not 0 <= shard_index < num_shards:
        raise ValueError(f"shard_index {shard_index} is not in [0, num_shards={num_shards})")
    keys, labels = images if images is not None else reader.image_keys_and_labels()[:2]
    order = np.arange(len(keys))
    if shuffle_seed is not None:
        order = np.random.default_rng([shuffle_seed, epoch]).permutation(len(keys))
    chosen = order[shard_index::num_shards]
    return keys[chosen], labels[chosen]


def _read_images(reader, keys, labels, max_pixels=MAX_PIXELS):
    """Yields (key, encoded image bytes, label), refusing payloads that are not JPEG / PNG or whose
    header states more than `max_pixels` pixels (checked before anything decodes them)."""
    for key, label in zip(keys.tolist(), labels.tolist()):
        _, data = reader.read_image(key)
        where = f"{reader.rec_path}: record {key} at byte {reader.index[key]}"
        size = encoded_size(data)  # None unless a JPEG or PNG header
        if size is None:
            raise RecordIOError(
                f"{where}: the payload after the IRHeader is not a JPEG or PNG image (starts with {data[:4]!r})"
            )
        try:
            check_pixels(*size, where, max_pixels)
        except ImageTooLargeError as error:
            raise RecordIOError(str(error)) from None
        yield key, data, label


def recordio_dataset(
    rec_path, shuffle_seed=None, epoch=0, num_shards=1, shard_index=0, decode=True, num_parallel_calls=None,
    images=None,
):
    """A `tf.data` pipeline over a pack's images: (uint8 image (H, W, 3), int64 label).

    The pixels are exactly the stored ones (decoded, not resized or
    standardised; that belongs to the training pipeline on top): JPEG with
    the accurate integer DCT, the pixels PIL, OpenCV and MXNet give
    (`decode_stored_image`); each image's header size is checked against
    `MAX_PIXELS` before it is decoded (an error naming the record). Records are
    read in order (or in a seeded permutation) by one reader and decoded in
    parallel; the result is prefetched.

    Args:
        rec_path: the `.rec` file (its `.idx` beside it).
        shuffle_seed, epoch, num_shards, shard_index: see `image_records`.
        decode: False yields the encoded bytes (a string tensor) instead.
        num_parallel_calls: decoding parallelism. Defaults to tf.data.AUTOTUNE.
        images: the pack's (keys, labels) from `image_keys_and_labels`, to
            skip reading the headers again (one read per run, not per epoch).

    Returns:
        A `tf.data.Dataset` of (image, label).

    Example:
        dataset = recordio_dataset("faces/train.rec", shuffle_seed=0).batch(128)
    """
    import tensorflow as tf

    reader = RecordIOReader(rec_path)  # the index and the selection are read once, here
    with reader:
        keys, labels = _selected_images(reader, shuffle_seed, epoch, num_shards, shard_index, images)

    def generate():
        with reader:  # reopens the file; closed when the pass ends
            for _, data, label in _read_images(reader, keys, labels):
                yield data, label

    dataset = tf.data.Dataset.from_generator(
        generate,
        output_signature=(tf.TensorSpec((), tf.string), tf.TensorSpec((), tf.int64)),
    ).apply(tf.data.experimental.assert_cardinality(len(keys)))
    if decode:
        from tf_wsoftmax.data.face_folders import decode_stored_image

        dataset = dataset.map(
            lambda data, label: (decode_stored_image(data), label),
            num_parallel_calls=num_parallel_calls or tf.data.AUTOTUNE,
        )
    return dataset.prefetch(tf.data.AUTOTUNE)
