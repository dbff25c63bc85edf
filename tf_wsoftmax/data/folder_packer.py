"""`tf-wsoftmax pack`: identity folders (SRC/<identity>/<image>) -> an InsightFace-layout `.rec` + `.idx`."""

import os
import re
import warnings

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


def partial_paths(rec_path, pid):
    """The temporary `.rec` and `.idx` that process `pid` writes while packing `rec_path`."""
    return f"{rec_path}.partial-{pid}.rec", f"{rec_path}.partial-{pid}.idx"


def _running(pid):
    """Whether another process `pid` runs on this machine (its partial files may still be in use)."""
    if pid <= 0 or pid == os.getpid():  # os.kill(0, ...) would signal our own process group
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's process
        return True
    except OSError:
        return False
    return True


def remove_leftover_partials(rec_path):
    """Removes the partial files an interrupted pack of `rec_path` left (`partial_paths` names).

    Only `<rec_path>.partial-<pid>.rec` / `.idx` whose process no longer runs
    are removed: nothing of another pack's name, and nothing a running pack
    may still be writing.

    Returns:
        The removed paths.
    """
    folder = os.path.dirname(rec_path) or "."
    pattern = re.compile(re.escape(os.path.basename(rec_path)) + r"\.partial-(\d+)\.(?:rec|idx)")
    removed = []
    for name in sorted(os.listdir(folder)):
        match = pattern.fullmatch(name)
        if match and not _running(int(match[1])) and os.path.isfile(os.path.join(folder, name)):
            os.remove(os.path.join(folder, name))
            removed.append(os.path.join(folder, name))
    return removed


def _check_destination(rec_path, overwrite):
    """Refuses a pack whose folder is missing, or that exists without `overwrite` (naming the path)."""
    folder = os.path.dirname(rec_path)
    if folder and not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write the pack {rec_path}: the folder {folder} does not exist (create it first)")
    existing = [p for p in (rec_path, index_path(rec_path)) if os.path.exists(p)]
    if existing and not overwrite:
        raise FileExistsError(f"{' and '.join(existing)} exist; pass overwrite=True (tf-wsoftmax pack --overwrite)")


def pack_folder(src, rec_path, min_images=1, overwrite=False, max_pixels=MAX_PIXELS):
    """Packs identity folders (SRC/<identity>/<image>) into an InsightFace-layout `.rec` + `.idx`.

    The image files' bytes are stored as they are (JPEG or PNG, as
    InsightFace's packs hold them); identities are numbered in sorted folder
    order. Nothing is written before the destination folder and every
    source file have been checked (a JPEG / PNG whose header states at most
    `max_pixels`). The pack is written to temporary files in the destination
    folder (`partial_paths`) and renamed into place at the end, so a failed,
    killed or full-disk run leaves an existing pack as it was and no
    half-written one; the partial files a killed run of the same `rec_path`
    left are removed when the next one starts (with a warning naming them).

    Args:
        src: the root of the identity folders.
        rec_path: the `.rec` to write.
        min_images: skip identities with fewer images.
        overwrite: replace an existing pack. Defaults to False.
        max_pixels: the largest image accepted. Defaults to `MAX_PIXELS`.

    Returns:
        dict with images, identities, the identity names in label order, and
        the leftover partial files removed.

    Raises:
        FileNotFoundError: the destination folder does not exist (naming it).
        FileExistsError: the pack (or its index) exists and `overwrite` is False.
        ValueError: a source file that is not a JPEG / PNG, or too large (naming it).
        OSError: the pack cannot be written (naming `rec_path`).
    """
    from tf_wsoftmax.data.identity_folders import list_identity_folders

    rec_path = os.fspath(rec_path)
    _check_destination(rec_path, overwrite)
    removed = remove_leftover_partials(rec_path)
    if removed:
        warnings.warn(f"removed the partial files of an interrupted pack: {', '.join(removed)}", stacklevel=2)
    paths, labels, names = list_identity_folders(src, min_images=min_images)
    for path in paths:
        _check_source_image(path, max_pixels)

    def samples():
        for path, label in zip(paths, labels):
            with open(path, "rb") as f:
                yield label, f.read()

    temporary, temporary_index = partial_paths(rec_path, os.getpid())
    try:
        images, identities = write_face_pack(temporary, samples())
        os.replace(temporary, rec_path)
        os.replace(temporary_index, index_path(rec_path))
    except OSError as error:
        if error.filename not in (temporary, temporary_index, None):
            raise  # a source file (it names itself)
        raise OSError(error.errno, f"cannot write the pack {rec_path} ({error.strerror or error})") from error
    finally:
        for leftover in (temporary, temporary_index):
            if os.path.exists(leftover):
                os.remove(leftover)
    return {"images": images, "identities": identities, "names": list(names), "removed": removed}
