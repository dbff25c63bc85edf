"""Training faces for `fit` on every backend: an InsightFace pack or identity folders, decoded with PIL.

One input definition for the face runs: the examples are read and decoded
in NumPy (`tf_wsoftmax.data.images.decode_image`: libjpeg's accurate integer
DCT, the pixels of PIL, OpenCV and MXNet), resized where the stored side
differs, flipped at random per (seed, epoch, batch) and standardised with
the paper's (x - 127.5) / 128, so TensorFlow and JAX train on the same
batches and a resumed run on the batches an uninterrupted one trains on.
"""

import numpy as np

from tf_wsoftmax.data.arrays import EpochWindows
from tf_wsoftmax.data.fingerprint import records_fingerprint
from tf_wsoftmax.data.images import MAX_PIXELS
from tf_wsoftmax.data.images import decode_image


def standardize_faces(images):
    """The paper's pixel scaling of uint8 faces: (x - 127.5) / 128, float32."""
    return (images.astype(np.float32) - np.float32(127.5)) / np.float32(128.0)


def resize_face(image, image_size):
    """A uint8 (H, W, 3) face resized to (S, S, 3) with PIL's antialiased bilinear filter (unchanged if (S, S))."""
    if image.shape[0] == image_size and image.shape[1] == image_size:
        return image
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((image_size, image_size), Image.BILINEAR))


class FaceBatches(EpochWindows):
    """Shuffled, flipped, standardised batches of faces from encoded records, for `fit`.

    Batches have a fixed size (the last, smaller batch of an epoch is left
    out). See `EpochWindows` for the order, `window` and resuming.

    Args:
        read: `index -> encoded image bytes` of example `index` (a pack
            record, or an image file).
        labels: (N,) integer class ids.
        batch_size: batch size.
        image_size: the side the faces are resized to.
        seed: the run's seed. Defaults to 0.
        flip: random horizontal flips. Defaults to True.
        where: `index -> str` naming an example in errors. Defaults to "example <index>".
        max_pixels: the decoding limit per image. Defaults to `MAX_PIXELS`.
        **kwargs: `EpochWindows` and `keras.utils.PyDataset` arguments.
    """

    def __init__(self, read, labels, batch_size, image_size, seed=0, flip=True, where=None, max_pixels=MAX_PIXELS,
                 **kwargs):
        self.read = read
        self.image_size = image_size
        self.flip = flip
        self.where = where or (lambda index: f"example {index}")
        self.max_pixels = max_pixels
        super().__init__(labels, batch_size, seed, drop_remainder=True, **kwargs)

    def load(self, picked, epoch, batch):
        faces = np.stack([
            resize_face(decode_image(self.read(int(i)), self.where(int(i)), self.max_pixels), self.image_size)
            for i in picked
        ])
        if self.flip:
            flips = np.random.default_rng([self.seed, epoch, batch]).random(len(picked)) < 0.5
            faces[flips] = faces[flips, :, ::-1]
        return standardize_faces(faces)

    def fingerprint(self):
        """The identity of the examples (`tf_wsoftmax.data.fingerprint.records_fingerprint`)."""
        return records_fingerprint(len(self.labels), self.labels, self.read)


def pack_face_batches(rec_path, batch_size, image_size, seed=0, flip=True, allow_sparse_labels=False):
    """`FaceBatches` over the images of an InsightFace pack, and its number of classes.

    Args:
        rec_path: the `.rec` pack (its `.idx` beside it).
        batch_size, image_size, seed, flip: as `FaceBatches`.
        allow_sparse_labels: see `tf_wsoftmax.data.pack_labels`.

    Returns:
        (FaceBatches, number of classes K).
    """
    from tf_wsoftmax.data import RecordIOReader
    from tf_wsoftmax.data import pack_labels

    labels, classes = pack_labels(rec_path, allow_sparse_labels)
    reader = RecordIOReader(rec_path)
    keys = reader.image_keys_and_labels()[0]

    def read(index):
        return reader.read_face(int(keys[index]))

    def where(index):
        return f"{rec_path}: record {int(keys[index])}"

    return FaceBatches(read, labels, batch_size, image_size, seed, flip, where), classes


def folder_face_batches(root, batch_size, image_size, seed=0, flip=True, min_images=1):
    """`FaceBatches` over an aligned identity-folder tree (root/<identity>/<image>), and its identities.

    Args:
        root: the folder of identity folders.
        batch_size, image_size, seed, flip: as `FaceBatches`.
        min_images: identities with fewer images are left out.

    Returns:
        (FaceBatches, number of identities).
    """
    from tf_wsoftmax.data.identity_folders import list_identity_folders

    paths, labels, names = list_identity_folders(root, min_images)

    def read(index):
        with open(paths[index], "rb") as f:
            return f.read()

    return FaceBatches(read, labels, batch_size, image_size, seed, flip, lambda i: str(paths[i])), len(names)

