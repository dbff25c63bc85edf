"""Identity-folder trees of face images (CASIA-WebFace layout: root/<identity>/<image>), read without a framework."""

import os

import numpy as np

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
