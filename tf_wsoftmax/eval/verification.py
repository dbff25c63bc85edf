"""Verification on InsightFace's `.bin` sets: the metrics of the LFW command for any pair set."""

import collections
import os

import numpy as np

from tf_wsoftmax.eval.verification_metrics import check_far_target
from tf_wsoftmax.eval.verification_metrics import contiguous_folds
from tf_wsoftmax.eval.verification_metrics import cosine_scores
from tf_wsoftmax.eval.verification_metrics import embed_faces
from tf_wsoftmax.eval.verification_metrics import verification_metrics


def evaluate_pairs(
    embed, images, issame, image_size, batch_size=64, flip_fusion=True, far_target=1e-3, folds=10, source=None
):
    """10-fold verification metrics of image pairs (images 2i and 2i + 1 form pair i).

    Args:
        embed: as `embed_faces`.
        images: uint8 (2N, H, W, 3), resized here to the model's side `image_size`
            (PIL's antialiased bilinear filter, as training reads faces).
        issame: bool (N,).
        image_size: the model's input side.
        batch_size, flip_fusion, far_target: see `embed_faces` / `verification_metrics`.
        folds: number of contiguous folds. Defaults to 10.
        source: the file the pairs come from, named in errors. Defaults to None.

    Returns:
        `verification_metrics` plus "pairs".
    """
    from tf_wsoftmax.data.face_batches import resize_face

    def load(indices):
        return np.stack([resize_face(images[i], image_size) for i in indices])

    table = embed_faces(embed, load, len(images), batch_size, flip_fusion)
    scores = cosine_scores(table[0::2], table[1::2])
    metrics = verification_metrics(scores, issame, contiguous_folds(len(issame), folds), far_target, source)
    return dict(metrics, pairs=len(issame))


def _file_identity(path):
    """What makes two spellings of a path the same file: (device, inode) if it exists, else its real path."""
    try:
        stat = os.stat(path)
    except OSError:
        return os.path.realpath(path)
    return (stat.st_dev, stat.st_ino)


def set_names(paths):
    """A unique display name per path: the file name without extension, or the path itself where
    two paths share a file name (d1/lfw.bin and d2/lfw.bin are two sets, not one).

    Args:
        paths: the `.bin` files.

    Returns:
        One name per path, in order.

    Raises:
        ValueError: one file given twice, however spelt (`d1/lfw.bin ./d1/lfw.bin`, a symbolic or
            hard link to it), naming both spellings.
    """
    paths = [os.fspath(p) for p in paths]
    first = {}
    for path in paths:
        identity = _file_identity(path)
        if identity in first:
            same = "" if first[identity] == path else f" and {path} are the same file"
            raise ValueError(f"verification set given more than once: {first[identity]}{same}")
        first[identity] = path
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    counts = collections.Counter(stems)
    return [stem if counts[stem] == 1 else path for stem, path in zip(stems, paths)]


def evaluate_bins(embed, paths, image_size, batch_size=64, flip_fusion=True, far_target=1e-3,
                  max_total_pixels=None):
    """`evaluate_pairs` for each `.bin` file; returns {set name: metrics} (names from `set_names`).

    Every argument and every path is checked before the first set is read.
    Errors of a set (a fold with fewer than 2 pairs, one kind of pair only)
    name its file. `max_total_pixels`: the decoded pixels one set may hold
    (`load_verification_bin`); None keeps its default (`MAX_SET_PIXELS`).
    """
    from tf_wsoftmax.data.verification_bin import MAX_SET_PIXELS
    from tf_wsoftmax.data.verification_bin import load_verification_bin

    check_far_target(far_target)
    names = set_names(paths)
    results = {}
    for name, path in zip(names, paths):
        images, issame = load_verification_bin(path, max_total_pixels=max_total_pixels or MAX_SET_PIXELS)
        results[name] = evaluate_pairs(
            embed, images, issame, image_size, batch_size, flip_fusion, far_target, source=path
        )
    return results


def markdown(results, far_target=1e-3):
    """One table row per set: accuracy +- std, VAL@FAR, AUC, EER, pairs."""
    lines = [
        f"| set | accuracy % | VAL@FAR={far_target:g} % | AUC | EER | pairs |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in results.items():
        lines.append(
            f"| {name} | {100 * m['accuracy_mean']:.2f} +- {100 * m['accuracy_std']:.2f} | "
            f"{100 * m['val_mean']:.2f} +- {100 * m['val_std']:.2f} | {m['auc']:.4f} | {m['eer']:.4f} | {m['pairs']} |"
        )
    return "\n".join(lines)
