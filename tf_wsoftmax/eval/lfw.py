"""LFW verification: pairs.txt, cosine scores, 10-fold accuracy, VAL@FAR, AUC, EER, ROC."""

import dataclasses
import os

import numpy as np


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


def cosine_scores(first, second):
    """Row-wise cosine similarity of two (N, d) embedding arrays."""
    first = first / np.maximum(np.linalg.norm(first, axis=1, keepdims=True), 1e-12)
    second = second / np.maximum(np.linalg.norm(second, axis=1, keepdims=True), 1e-12)
    return np.sum(first * second, axis=1)


def _rates(scores, same, threshold):
    predicted = scores >= threshold
    tar = np.sum(predicted & same) / max(np.sum(same), 1)
    far = np.sum(predicted & ~same) / max(np.sum(~same), 1)
    return tar, far


def _candidate_thresholds(scores):
    """Midpoints between consecutive distinct scores, plus one below and one above all."""
    distinct = np.unique(scores)
    return np.concatenate([[distinct[0] - 1e-6], (distinct[1:] + distinct[:-1]) / 2, [distinct[-1] + 1e-6]])


def _accuracy_and_far(scores, same, thresholds):
    """Accuracy and FAR of "same iff score >= t" for every t (vectorised)."""
    positives, negatives = np.sort(scores[same]), np.sort(scores[~same])
    accepted_positives = len(positives) - np.searchsorted(positives, thresholds, "left")
    rejected_negatives = np.searchsorted(negatives, thresholds, "left")
    accuracy = (accepted_positives + rejected_negatives) / len(scores)
    far = (len(negatives) - rejected_negatives) / max(len(negatives), 1)
    return accuracy, far


def check_verification_inputs(scores, same, folds, far_target):
    """Raises a ValueError that names the problem for inputs the metrics cannot be computed from.

    Args:
        scores, same, folds, far_target: as `verification_metrics`.
    """
    if not (isinstance(far_target, (int, float)) and 0 < far_target < 1):
        raise ValueError(f"`far_target` must be in (0, 1). Received: far_target={far_target}")
    if not (len(scores) == len(same) == len(folds)):
        raise ValueError(f"{len(scores)} scores, {len(same)} pair flags and {len(folds)} fold ids differ in length")
    if not np.all(np.isfinite(scores)):
        raise ValueError("the pair scores are not all finite (NaN or infinite embeddings)")
    counts = np.unique(folds, return_counts=True)[1] if len(folds) else np.array([0])
    if counts.min() < 2:
        raise ValueError(
            f"every fold needs at least 2 pairs; {len(same)} pairs in {len(counts)} folds give {counts.min()}"
        )
    if same.all() or not same.any():
        raise ValueError(
            f"the set needs both same and different pairs; all {len(same)} pairs are "
            + ("'same'" if same.all() else "'different'")
        )


def verification_metrics(scores, same, folds, far_target=1e-3):
    """10-fold verification metrics from pair scores.

    Thresholds are the midpoints between consecutive training scores. For
    each fold the accuracy threshold is the one with the best accuracy on the
    other folds (the middle one among ties); the VAL threshold is the lowest
    whose FAR on the other folds is <= `far_target`; both are scored on the
    held-out fold.

    Args:
        scores: (N,) similarities (higher = more alike).
        same: (N,) booleans.
        folds: (N,) fold index of each pair.
        far_target: the FAR of VAL@FAR. Defaults to 1e-3.

    Returns:
        dict with accuracy_mean/std, val_mean/std, far_mean at `far_target`,
        auc, eer, the per-fold thresholds and the ROC points.
    """
    from sklearn.metrics import roc_auc_score
    from sklearn.metrics import roc_curve

    scores, same, folds = np.asarray(scores, float), np.asarray(same, bool), np.asarray(folds)
    check_verification_inputs(scores, same, folds, far_target)
    accuracies, vals, fars, chosen = [], [], [], []
    single_fold = len(np.unique(folds)) == 1
    for fold in np.unique(folds):
        test = folds == fold
        train = test if single_fold else ~test  # one fold: choose and score on the same pairs
        thresholds = _candidate_thresholds(scores[train])
        train_accuracy, train_far = _accuracy_and_far(scores[train], same[train], thresholds)
        ties = np.flatnonzero(train_accuracy == train_accuracy.max())
        best = thresholds[ties[len(ties) // 2]]
        accuracies.append(np.mean((scores[test] >= best) == same[test]))
        chosen.append(float(best))
        val_threshold = thresholds[np.flatnonzero(train_far <= far_target)[0]]
        val, far = _rates(scores[test], same[test], val_threshold)
        vals.append(val)
        fars.append(far)
    fpr, tpr, _ = roc_curve(same, scores)
    eer_index = int(np.nanargmin(np.abs(fpr - (1 - tpr))))
    return {
        "accuracy_mean": float(np.mean(accuracies)),
        "accuracy_std": float(np.std(accuracies)),
        "val_mean": float(np.mean(vals)),
        "val_std": float(np.std(vals)),
        "far_mean": float(np.mean(fars)),
        "far_target": far_target,
        "auc": float(roc_auc_score(same, scores)),
        "eer": float((fpr[eer_index] + 1 - tpr[eer_index]) / 2),
        "thresholds": chosen,
        "roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist()},
    }


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
    import tensorflow as tf

    from tf_wsoftmax.data.face_folders import decode_face
    from tf_wsoftmax.data.face_folders import standardize_face

    pairs = parse_pairs(pairs_path)
    paths = pair_paths(pairs, root)
    from tf_wsoftmax.eval.verification import embed_dataset

    dataset = tf.data.Dataset.from_tensor_slices(paths).map(
        lambda p: standardize_face(decode_face(p, image_size)), num_parallel_calls=tf.data.AUTOTUNE
    )
    index = {path: row for row, path in enumerate(paths)}
    table = embed_dataset(embed, dataset, batch_size, flip_fusion)
    first = table[[index[image_path(root, *p.first)] for p in pairs]]
    second = table[[index[image_path(root, *p.second)] for p in pairs]]
    metrics = verification_metrics(
        cosine_scores(first, second), [p.same for p in pairs], [p.fold for p in pairs], far_target
    )
    return dict(metrics, pairs=len(pairs), images=len(paths))
