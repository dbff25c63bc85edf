"""LFW verification: pairs.txt, cosine scores, 10-fold accuracy, VAL@FAR, AUC, EER, ROC."""

import dataclasses
import os

import numpy as np

from tf_wsoftmax.eval.verification_metrics import check_far_target
from tf_wsoftmax.eval.verification_metrics import cosine_scores
from tf_wsoftmax.eval.verification_metrics import embed_faces
from tf_wsoftmax.eval.verification_metrics import verification_metrics


@dataclasses.dataclass(frozen=True)
class Pair:
    """One verification pair: two (identity, image number) and whether they match."""

    first: tuple
    second: tuple
    same: bool
    fold: int


def parse_pairs(path):
    """Parses the standard LFW pairs.txt.

    The header is "folds pairs_per_fold" ("10 300"); then each fold has
    `pairs_per_fold` matched lines "name n1 n2" followed by as many
    mismatched lines "name1 n1 name2 n2". A header with one number is one
    fold of that many matched and mismatched pairs (pairsDevTest.txt).

    Args:
        path: the pairs file.

    Returns:
        A list of `Pair`.

    Raises:
        ValueError: malformed header or line (the message gives the line
            number), or a wrong number of pairs.
    """
    with open(path) as f:
        lines = [line.rstrip("\n") for line in f]
    if not lines:
        raise ValueError(f"{path}: empty pairs file")
    header = lines[0].split()
    try:
        numbers = [int(token) for token in header]
    except ValueError:
        raise ValueError(f"{path}:1: header must be 'folds pairs_per_fold' (e.g. '10 300'), got {lines[0]!r}") from None
    if len(numbers) == 1:
        numbers = [1] + numbers
    if len(numbers) != 2 or min(numbers) < 1:
        raise ValueError(f"{path}:1: header must be 'folds pairs_per_fold', got {lines[0]!r}")
    folds, per_fold = numbers
    pairs = []
    body = [(number, line) for number, line in enumerate(lines[1:], start=2) if line.strip()]
    expected = folds * 2 * per_fold
    if len(body) != expected:
        raise ValueError(
            f"{path}: the header announces {folds} folds of {per_fold} matched + {per_fold} "
            f"mismatched pairs ({expected} lines) but the file has {len(body)} pair lines."
        )
    for index, (number, line) in enumerate(body):
        tokens = line.split()
        fold = index // (2 * per_fold)
        should_match = index % (2 * per_fold) < per_fold
        try:
            if len(tokens) == 3 and should_match:
                pairs.append(Pair((tokens[0], int(tokens[1])), (tokens[0], int(tokens[2])), True, fold))
            elif len(tokens) == 4 and not should_match:
                pairs.append(Pair((tokens[0], int(tokens[1])), (tokens[2], int(tokens[3])), False, fold))
            else:
                kind = "matched 'name n1 n2'" if should_match else "mismatched 'name1 n1 name2 n2'"
                raise ValueError(f"expected a {kind} pair")
        except ValueError as error:
            raise ValueError(f"{path}:{number}: malformed pair line {line!r}: {error}") from None
    return pairs


def image_path(root, name, number, extensions=(".png", ".jpg", ".jpeg")):
    """root/name/name_%04d.<ext> for the first extension that exists (or .png)."""
    stem = os.path.join(root, name, f"{name}_{number:04d}")
    for extension in extensions:
        if os.path.exists(stem + extension):
            return stem + extension
    return stem + extensions[0]


def pair_paths(pairs, root):
    """The unique image paths the pairs need, checking that they all exist.

    Raises:
        FileNotFoundError: naming the missing images (the first 20) and their count.
    """
    needed = sorted({image_path(root, *p.first) for p in pairs} | {image_path(root, *p.second) for p in pairs})
    missing = [path for path in needed if not os.path.exists(path)]
    if missing:
        shown = "\n  ".join(os.path.relpath(p, root) for p in missing[:20])
        raise FileNotFoundError(f"{len(missing)} LFW images missing under {root}:\n  {shown}")
    return needed


def plot_roc(metrics, path, title="LFW ROC"):
    """Writes the ROC curve (log-scale FAR) to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4.5))
    fpr = np.maximum(np.asarray(metrics["roc"]["fpr"]), 1e-5)
    ax.plot(fpr, metrics["roc"]["tpr"], label=f"AUC {metrics['auc']:.4f}, EER {metrics['eer']:.4f}")
    ax.set_xscale("log")
    ax.set_xlabel("false accept rate")
    ax.set_ylabel("true accept rate")
    ax.set_title(f"{title}: acc {100 * metrics['accuracy_mean']:.2f} +- {100 * metrics['accuracy_std']:.2f}%")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def evaluate_lfw(embed, pairs_path, root, batch_size=64, image_size=160, flip_fusion=True, far_target=1e-3):
    """Embeds LFW pairs with `embed` and returns `verification_metrics`.

    Args:
        embed: function from a float32 batch (B, S, S, 3), standardised as
            (x - 127.5) / 128, to (B, d) embeddings.
        pairs_path: pairs.txt.
        root: aligned LFW folder (name/name_%04d.png or .jpg).
        batch_size: embedding batch size.
        image_size: the model's input side.
        flip_fusion: add the embedding of the mirrored image.
        far_target: FAR of the VAL figure.

    Returns:
        The metrics dict, plus "pairs" and "images" counts.
    """
    from tf_wsoftmax.data.face_batches import resize_face
    from tf_wsoftmax.data.images import decode_image

    check_far_target(far_target)
    pairs = parse_pairs(pairs_path)
    paths = pair_paths(pairs, root)

    def load(indices):
        faces = []
        for i in indices:
            with open(paths[i], "rb") as f:
                faces.append(resize_face(decode_image(f.read(), paths[i]), image_size))
        return np.stack(faces)

    index = {path: row for row, path in enumerate(paths)}
    table = embed_faces(embed, load, len(paths), batch_size, flip_fusion)
    first = table[[index[image_path(root, *p.first)] for p in pairs]]
    second = table[[index[image_path(root, *p.second)] for p in pairs]]
    scores = cosine_scores(first, second)
    metrics = verification_metrics(scores, [p.same for p in pairs], [p.fold for p in pairs], far_target, pairs_path)
    return dict(metrics, pairs=len(pairs), images=len(paths))
