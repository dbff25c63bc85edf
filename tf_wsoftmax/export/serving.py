"""SavedModel export of face embedders and classifiers for TF Serving."""

import os
import re

import keras
import tensorflow as tf

from tf_wsoftmax.export.face_decoding import decode_face_bytes
from tf_wsoftmax.export.face_decoding import assert_jpeg_or_png
from tf_wsoftmax.export.face_decoding import encoded_image_pixels  # noqa: F401  (re-exported)
from tf_wsoftmax.export.face_decoding import standardize_face
from tf_wsoftmax.data.images import MAX_PIXELS  # one limit for every image reader and for serving
from tf_wsoftmax.data.images import PNG_SIGNATURE

SIGNATURES = ("serving_default", "serve_uint8", "serve_bytes")


def _dimension(tensor, axis):
    """The size of dimension `axis` as a run-time int64, 0 where the tensor has fewer dimensions.

    Computed from the run-time shape padded with zeros, so that a scalar (or a
    tensor of lower rank than the signature's) gives a clear assertion rather
    than an indexing error, and graph optimisation cannot replace it by the
    signature's static shape.
    """
    return tf.concat([tf.shape(tensor, out_type=tf.int64), tf.zeros([axis + 1], tf.int64)], axis=0)[axis]


def checked_batch(images, image_shape, name="images", value_range=None):
    """Attaches the serving-time checks of a batch of images.

    A batch must be [N, H, W, C] with the model's (H, W, C) (a single image
    needs its batch dimension; a scalar is refused the same way), hold at
    least one image and, for float input, only finite pixels, within
    `value_range` if given; each failure raises `InvalidArgumentError` with a
    message that says which. The shape is checked through the element count,
    which stays a run-time value even where the signature's static shape lets
    graph optimisation fold `tf.shape` away.

    Args:
        images: the signature's input tensor.
        image_shape: (H, W, C) the model takes.
        name: the input's name in messages.
        value_range: (low, high) the pixel values must lie in (float input),
            e.g. (0, 255). Defaults to None (no range check).

    Returns:
        `images` with the checks as control dependencies.
    """
    expected = "[N, " + ", ".join(str(d) for d in image_shape) + "]"
    per_image = 1
    for dim in image_shape:
        per_image *= int(dim)
    batch = _dimension(images, 0)
    checks = [
        tf.debugging.Assert(
            tf.equal(tf.size(images, out_type=tf.int64), batch * per_image),
            [f"`{name}` must be a batch of shape {expected} (a single image needs its batch dimension); got shape",
             tf.shape(images)],
        ),
        tf.debugging.assert_positive(batch, message=f"`{name}` is an empty batch; send at least one image"),
    ]
    if images.dtype.is_floating:
        with tf.control_dependencies(checks):  # the values are looked at once the shape is right
            finite = tf.debugging.assert_all_finite(images, message=f"`{name}` holds NaN or Inf pixels")
        checks.append(finite)
        if value_range is not None:
            low, high = value_range
            with tf.control_dependencies([finite]):
                inside = tf.logical_and(tf.reduce_min(images) >= low, tf.reduce_max(images) <= high)
                checks.append(tf.debugging.Assert(
                    inside,
                    [f"`{name}` must hold pixel values in {low:g}..{high:g}; found values from",
                     tf.reduce_min(images), "to", tf.reduce_max(images)],
                ))
    with tf.control_dependencies(checks):
        return tf.identity(images)


def checked_items(images, name="images"):
    """The checks of a batch of encoded images: a 1-D string tensor [N] with N >= 1.

    Args:
        images: the signature's string input.
        name: the input's name in messages.

    Returns:
        The items as a 1-D tensor, with the checks as control dependencies.
    """
    count = tf.size(images, out_type=tf.int64)
    checks = [
        tf.debugging.Assert(
            tf.logical_and(tf.equal(_dimension(images, 0), count), tf.equal(_dimension(images, 1), 0)),
            [f"`{name}` must be a batch [N] of encoded JPEG / PNG images (a single image needs its batch "
             "dimension: [image]); got shape", tf.shape(images)],
        ),
        tf.debugging.assert_positive(count, message=f"`{name}` is an empty batch; send at least one image"),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(images)


def _assert_complete(data, where):
    """Refuses JPEG / PNG bytes cut short: a PNG without its IEND chunk, a JPEG without an end-of-image
    marker (0xFFD9), which every decodable one holds. Other damage is left to the decoder."""
    is_png = tf.equal(tf.strings.substr(data, 0, 8, unit="BYTE"), PNG_SIGNATURE)
    end = tf.where(is_png, tf.constant(b"IEND"), tf.constant(b"\xff\xd9"))
    return tf.debugging.Assert(
        tf.size(tf.strings.split(data, sep=end)) > 1,
        ["`images` holds an image cut short (a PNG without its IEND chunk or a JPEG without its end "
         "marker):", where],
    )


def _decode_item(index, data, size, max_pixels, name="images"):
    """Decodes item `index` of a batch of encoded images; its checks' messages name the item."""
    where = tf.strings.join(["item ", tf.strings.as_string(index), f" of `{name}`"])
    with tf.control_dependencies([assert_jpeg_or_png(data, where)]):  # JPEG / PNG only; the size is checked inside
        with tf.control_dependencies([_assert_complete(data, where)]):
            return decode_face_bytes(data, size, max_pixels, where=where)


_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def serving_path(base, name, version):
    """TF Serving's layout: <base>/<name>/<version>/.

    `name` is one path component (letters, digits, '.', '_', '-', not
    starting with '.'), so the export cannot land outside `base`.
    """
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"`version` must be a positive int. Received: {version}")
    if not isinstance(name, str) or not _MODEL_NAME.fullmatch(name):
        raise ValueError(
            f"The model name must be one path component of letters, digits, '.', '_' and '-' (not starting "
            f"with '.'), as TF Serving's model_name. Received: name={name!r}"
        )
    return os.path.join(base, name, str(version))


def _check_destination(base, name, version, overwrite):
    path = serving_path(base, name, version)
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} exists; pass a new --version or overwrite=True.")
    return path


def export_embedder(embedder, base, name, version, overwrite=False, max_pixels=MAX_PIXELS):
    """Writes a SavedModel with three signatures, none with a label input.

    - `serving_default`: float32 faces [N, S, S, 3] with pixel values in
      0..255 -> {"embeddings": [N, d]} L2-normalised.
    - `serve_uint8`: the same for uint8 faces.
    - `serve_bytes`: a string tensor [N] of encoded JPEG/PNG images (any
      size up to `max_pixels`, read from the header before decoding;
      resized to S x S) -> {"embeddings"}.

    Every signature refuses, with a message naming the problem, an empty
    batch, an input without its batch dimension (a scalar included) or of
    the wrong image shape, float pixels that are NaN / Inf or outside
    0..255 (naming the smallest and largest value), bytes that are not
    JPEG / PNG, images cut short and images over `max_pixels` (naming the
    item's index in the batch). An item whose header and end are fine but
    whose body does not decode fails with the decoder's own message.

    The model inside is the embedder alone: no classifier head, no centres.
    Built with `keras.export.ExportArchive`.

    Args:
        embedder: Keras model from standardised faces (x - 127.5) / 128 to
            embeddings, with a known (S, S, 3) input.
        base, name, version: the export lands in base/name/version/.
        overwrite: replace an existing version. Defaults to False.
        max_pixels: largest image `serve_bytes` decodes. Defaults to 40 M.

    Returns:
        The export path.
    """
    path = _check_destination(base, name, version, overwrite)
    size = embedder.input_shape[1]
    if embedder.input_shape[1:] != (size, size, 3):
        raise ValueError(f"The embedder must take (S, S, 3) faces; it takes {embedder.input_shape[1:]}.")

    def embed(faces):
        faces = checked_batch(faces, (size, size, 3), "faces", value_range=(0.0, 255.0))
        vectors = embedder(standardize_face(faces), training=False)
        return {"embeddings": tf.math.l2_normalize(tf.cast(vectors, tf.float32), axis=-1)}

    def embed_bytes(images):
        items = checked_items(images)
        faces = tf.map_fn(
            lambda item: _decode_item(item[0], item[1], size, max_pixels),
            (tf.range(tf.size(items, out_type=tf.int64)), items),
            fn_output_signature=tf.TensorSpec((size, size, 3), tf.uint8),
        )
        return embed(faces)

    archive = keras.export.ExportArchive()
    archive.track(embedder)
    archive.add_endpoint("serving_default", embed, [tf.TensorSpec([None, size, size, 3], tf.float32, name="faces")])
    archive.add_endpoint("serve_uint8", embed, [tf.TensorSpec([None, size, size, 3], tf.uint8, name="faces")])
    archive.add_endpoint("serve_bytes", embed_bytes, [tf.TensorSpec([None], tf.string, name="images")])
    archive.write_out(path, verbose=False)
    return path


def export_classifier(classifier, base, name, version, overwrite=False):
    """Writes a classifier (images -> logits) as a SavedModel for TF Serving.

    One signature, `serving_default`: float32 images [N, H, W, C] as the
    model takes them (a model saved by `tf-wsoftmax train` takes pixel
    values 0..255 and standardises inside) -> {"logits": [N, K] test-time
    logits, "probabilities": softmax, "classes": argmax}. Empty batches, a
    missing batch dimension, a wrong image shape and NaN / Inf pixels are
    refused with a message naming the problem.

    Args:
        classifier: Keras model from images to (B, K) logits with a known
            input shape.
        base, name, version: the export lands in base/name/version/.
        overwrite: replace an existing version. Defaults to False.

    Returns:
        The export path.
    """
    path = _check_destination(base, name, version, overwrite)
    image_shape = tuple(classifier.input_shape[1:])
    if None in image_shape:
        raise ValueError(f"The classifier's input shape must be known; it is {classifier.input_shape}.")

    def classify(images):
        logits = tf.cast(classifier(checked_batch(images, image_shape), training=False), tf.float32)
        return {
            "logits": logits,
            "probabilities": tf.nn.softmax(logits),
            "classes": tf.argmax(logits, axis=-1, output_type=tf.int32),
        }

    archive = keras.export.ExportArchive()
    archive.track(classifier)
    archive.add_endpoint("serving_default", classify, [tf.TensorSpec((None,) + image_shape, tf.float32, name="images")])
    archive.write_out(path, verbose=False)
    return path
