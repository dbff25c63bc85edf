"""`tf-wsoftmax pack`: identity folders (SRC/<identity>/<image>) -> an InsightFace-layout `.rec` + `.idx`."""

import os

from tf_wsoftmax.data.face_pack import index_path
from tf_wsoftmax.data.face_pack import write_face_pack
from tf_wsoftmax.data.images import MAX_PIXELS
from tf_wsoftmax.data.images import check_pixels
from tf_wsoftmax.data.images import encoded_size


def _check_source_image(path, max_pixels):
    """Reads the first bytes of an image file; raises ValueError naming it unless a JPEG / PNG within the limit."""
    with open(path, "rb") as f:
        head = f.read(65536)
    size = encoded_size(head)  # None unless a JPEG or PNG header
    if size is None:
        raise ValueError(f"{path}: packs hold JPEG or PNG images; convert this file first (starts with {head[:4]!r})")
    check_pixels(*size, path, max_pixels)


def pack_folder(src, rec_path, min_images=1, overwrite=False, max_pixels=MAX_PIXELS):
    """Packs identity folders (SRC/<identity>/<image>) into an InsightFace-layout `.rec` + `.idx`.

    The image files' bytes are stored as they are (JPEG or PNG, as
    InsightFace's packs hold them); identities are numbered in sorted folder
    order. Nothing is written before every source file has been checked
    (a JPEG / PNG whose header states at most `max_pixels`). The pack is
    written to temporary files in the destination folder and renamed into
    place at the end, so a failed, killed or full-disk run leaves an
    existing pack as it was and no half-written one.

    Args:
        src: the root of the identity folders.
        rec_path: the `.rec` to write.
        min_images: skip identities with fewer images.
        overwrite: replace an existing pack. Defaults to False.
        max_pixels: the largest image accepted. Defaults to `MAX_PIXELS`.

    Returns:
        dict with images, identities, and the identity names in label order.

    Raises:
        FileExistsError: the pack (or its index) exists and `overwrite` is False.
        ValueError: a source file that is not a JPEG / PNG, or too large (naming it).
    """
    from tf_wsoftmax.data.face_folders import list_identity_folders

    idx_path = index_path(rec_path)
    existing = [p for p in (rec_path, idx_path) if os.path.exists(p)]
    if existing and not overwrite:
        raise FileExistsError(f"{' and '.join(existing)} exist; pass overwrite=True (tf-wsoftmax pack --overwrite)")
    paths, labels, names = list_identity_folders(src, min_images=min_images)
    for path in paths:
        _check_source_image(path, max_pixels)

    def samples():
        for path, label in zip(paths, labels):
            with open(path, "rb") as f:
                yield label, f.read()

    temporary = f"{rec_path}.partial-{os.getpid()}.rec"
    try:
        images, identities = write_face_pack(temporary, samples())
        os.replace(temporary, rec_path)
        os.replace(index_path(temporary), idx_path)
    finally:
        for leftover in (temporary, index_path(temporary)):
            if os.path.exists(leftover):
                os.remove(leftover)
    return {"images": images, "identities": identities, "names": list(names)}
