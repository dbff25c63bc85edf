"""SavedModel export of a face embedder for TF Serving."""

import os

import keras
import tensorflow as tf

from tf_wsoftmax.data.face_folders import decode_face_bytes
from tf_wsoftmax.data.face_folders import standardize_face

SIGNATURES = ("serving_default", "serve_uint8", "serve_bytes")


def serving_path(base, name, version):
    """TF Serving's layout: <base>/<name>/<version>/."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"`version` must be a positive int. Received: {version}")
    return os.path.join(base, name, str(version))


def export_embedder(embedder, base, name, version, overwrite=False):
    """Writes a SavedModel with three signatures, none with a label input.

    - `serving_default`: float32 faces [N, S, S, 3] with pixel values in
      0..255 -> {"embeddings": [N, d]} L2-normalised.
    - `serve_uint8`: the same for uint8 faces.
    - `serve_bytes`: a string tensor [N] of encoded JPEG/PNG images (any
      size; resized to S x S) -> {"embeddings"}.

    The model inside is the embedder alone: no classifier head, no centres.
    Built with `keras.export.ExportArchive`.

    Args:
        embedder: Keras model from standardised faces (x - 127.5) / 128 to
            embeddings, with a known (S, S, 3) input.
        base, name, version: the export lands in base/name/version/.
        overwrite: replace an existing version. Defaults to False.

    Returns:
        The export path.
    """
    path = serving_path(base, name, version)
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} exists; pass a new --version or overwrite=True.")
    size = embedder.input_shape[1]
    if embedder.input_shape[1:] != (size, size, 3):
        raise ValueError(f"The embedder must take (S, S, 3) faces; it takes {embedder.input_shape[1:]}.")

    def embed(faces):
        check = tf.debugging.assert_equal(
            tf.shape(faces)[1:],
            tf.constant([size, size, 3]),
            message=f"faces must have shape [N, {size}, {size}, 3]",
        )
        with tf.control_dependencies([check]):
            faces = tf.identity(faces)
        vectors = embedder(standardize_face(faces), training=False)
        return {"embeddings": tf.math.l2_normalize(tf.cast(vectors, tf.float32), axis=-1)}

    def embed_bytes(images):
        faces = tf.map_fn(
            lambda data: decode_face_bytes(data, size), images, fn_output_signature=tf.TensorSpec((size, size, 3), tf.uint8)
        )
        return embed(faces)

    archive = keras.export.ExportArchive()
    archive.track(embedder)
    archive.add_endpoint("serving_default", embed, [tf.TensorSpec([None, size, size, 3], tf.float32, name="faces")])
    archive.add_endpoint("serve_uint8", embed, [tf.TensorSpec([None, size, size, 3], tf.uint8, name="faces")])
    archive.add_endpoint("serve_bytes", embed_bytes, [tf.TensorSpec([None], tf.string, name="images")])
    archive.write_out(path, verbose=False)
    return path
