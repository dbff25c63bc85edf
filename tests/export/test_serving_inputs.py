"""What the embedder's serving signatures refuse, through a SavedModel reloaded with tf.saved_model.load."""

import io
import re

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tf_wsoftmax.export import export_embedder
from tf_wsoftmax.models import build_face_embedder


def encoded(size, fmt, seed=0):
    pixels = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def signatures(tmp_path_factory):
    """An embedder exported with max_pixels=2000: a 40 x 30 image (1200 pixels) passes, 50 x 50 does not."""
    path = export_embedder(build_face_embedder(4, 32, "small"), str(tmp_path_factory.mktemp("export")), "f", 1,
                           max_pixels=2000)
    return tf.saved_model.load(path).signatures


def refused(signature, match, **inputs):
    with pytest.raises(tf.errors.InvalidArgumentError, match=match) as error:
        signature(**inputs)
    return str(error.value)


def test_a_bad_item_of_serve_bytes_is_named_by_its_index(signatures):
    serve_bytes = signatures["serve_bytes"]
    png, jpeg = encoded((40, 30), "PNG"), encoded((40, 30), "JPEG", seed=1)
    assert serve_bytes(images=tf.constant([png, jpeg]))["embeddings"].shape == (2, 4)
    gif = encoded((40, 30), "GIF")
    refused(serve_bytes, r"must hold JPEG or PNG bytes\] \[item 1 of `images`\]", images=tf.constant([png, gif, jpeg]))
    refused(serve_bytes, r"JPEG or PNG bytes\] \[item 0 of `images`\]", images=tf.constant([b"", png]))
    refused(serve_bytes, r"cut short.*\] \[item 2 of `images`\]",
            images=tf.constant([png, jpeg, jpeg[: len(jpeg) // 2]]))
    refused(serve_bytes, r"cut short.*\] \[item 1 of `images`\]", images=tf.constant([jpeg, png[:-12]]))
    refused(serve_bytes, r"more than max_pixels=2000 pixels:\] \[item 3 of `images`\] \[2500\]",
            images=tf.constant([png, png, jpeg, encoded((50, 50), "PNG")]))


def test_serve_bytes_needs_a_1d_batch(signatures):
    serve_bytes = signatures["serve_bytes"]
    png = encoded((40, 30), "PNG")
    message = refused(serve_bytes, r"must be a batch \[N\] of encoded JPEG / PNG images \(a single image needs its "
                                   r"batch dimension: \[image\]\); got shape\] \[\]", images=tf.constant(png))
    assert "slice index" not in message
    refused(serve_bytes, r"must be a batch \[N\].*got shape\] \[1 2\]", images=tf.constant([[png, png]]))
    refused(serve_bytes, "empty batch", images=tf.constant([], tf.string))


@pytest.mark.parametrize("value", [1e30, -1e6, 255.5, -0.5])
def test_float_faces_outside_0_255_are_refused(signatures, value):
    faces = np.full((2, 32, 32, 3), 100.0, np.float32)
    faces[1, 3, 4, 2] = value
    low, high = min(value, 100.0), max(value, 100.0)
    refused(signatures["serving_default"],
            re.escape(f"`faces` must hold pixel values in 0..255; found values from] [{low:g}] [to] [{high:g}]"),
            faces=tf.constant(faces))


def test_float_faces_at_the_ends_of_the_range_and_bad_shapes(signatures):
    serve = signatures["serving_default"]
    faces = np.zeros((2, 32, 32, 3), np.float32)
    faces[1] = 255.0
    from_float = serve(faces=tf.constant(faces))["embeddings"].numpy()
    from_uint8 = signatures["serve_uint8"](faces=tf.constant(faces.astype(np.uint8)))["embeddings"].numpy()
    np.testing.assert_allclose(from_float, from_uint8, atol=1e-6)
    for value in (float("nan"), float("inf"), -float("inf")):
        refused(serve, "NaN or Inf", faces=tf.fill((1, 32, 32, 3), value))
    message = refused(serve, r"must be a batch of shape \[N, 32, 32, 3\].*got shape\] \[\]", faces=tf.constant(7.0))
    assert "slice index" not in message
