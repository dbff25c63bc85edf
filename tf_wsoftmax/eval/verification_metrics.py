"""The verification metrics shared by the LFW command and `.bin` sets.

Embeddings of a dataset of faces (with flip fusion), cosine scores of pairs,
InsightFace's contiguous folds, and the 10-fold accuracy, VAL@FAR, AUC and
EER with their thresholds. `tf_wsoftmax.eval.lfw` (pairs.txt + image folders)
and `tf_wsoftmax.eval.verification` (`.bin` sets) both build on this module.
"""

import os

import numpy as np


def embed_faces(embed, load, count, batch_size=64, flip_fusion=True):
    """Embeds `count` faces, batch by batch, in NumPy (every backend).

    Args:
        embed: function from a float32 batch (B, S, S, 3), standardised as
            (x - 127.5) / 128, to (B, d) embeddings.
        load: `indices -> uint8 (B, S, S, 3)` faces (decoded and resized).
        count: the number of faces.
        batch_size: embedding batch size.
        flip_fusion: add the embedding of the mirrored image (as InsightFace's
            verification does).

    Returns:
        (count, d) float array.
    """
    from tf_wsoftmax.data.face_batches import standardize_faces

    embeddings = []
    for start in range(0, count, batch_size):
        batch = standardize_faces(load(np.arange(start, min(start + batch_size, count))))
        vectors = np.asarray(embed(batch))
        if flip_fusion:
            vectors = vectors + np.asarray(embed(np.ascontiguousarray(batch[:, :, ::-1])))
        embeddings.append(vectors)
    return np.concatenate(embeddings) if embeddings else np.zeros((0, 0))


def contiguous_folds(num_pairs, folds=10):
    """InsightFace's fold of each pair: `folds` contiguous blocks (sklearn KFold without shuffling)."""
    sizes = np.full(folds, num_pairs // folds) + (np.arange(folds) < num_pairs % folds)
    return np.repeat(np.arange(folds), sizes)


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


def check_far_target(far_target):
    """Raises a ValueError unless `far_target` (the FAR of VAL@FAR) is a number in (0, 1)."""
    if not (isinstance(far_target, (int, float)) and 0 < far_target < 1):
        raise ValueError(f"`far_target` must be in (0, 1). Received: far_target={far_target}")


def check_verification_inputs(scores, same, folds, far_target, source=None):
    """Raises a ValueError that names the problem for inputs the metrics cannot be computed from.

    Args:
        scores, same, folds, far_target, source: as `verification_metrics`.
    """
    check_far_target(far_target)
    where = "" if source is None else f"{os.fspath(source)}: "
    if not (len(scores) == len(same) == len(folds)):
        raise ValueError(
            f"{where}{len(scores)} scores, {len(same)} pair flags and {len(folds)} fold ids differ in length"
        )
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{where}the pair scores are not all finite (NaN or infinite embeddings)")
    counts = np.unique(folds, return_counts=True)[1] if len(folds) else np.array([0])
    if counts.min() < 2:
        raise ValueError(
            f"{where}every fold needs at least 2 pairs; {len(same)} pairs in {len(counts)} folds give {counts.min()}"
        )
    if same.all() or not same.any():
        raise ValueError(
            f"{where}the set needs both same and different pairs; all {len(same)} pairs are "
            + ("'same'" if same.all() else "'different'")
        )


def verification_metrics(scores, same, folds, far_target=1e-3, source=None):
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
        source: the file the pairs come from, named in errors. Defaults to
            None (errors name no file).

    Returns:
        dict with accuracy_mean/std, val_mean/std, far_mean at `far_target`,
        auc, eer, the per-fold thresholds and the ROC points.

    Raises:
        ValueError: `far_target` outside (0, 1), non-finite scores, a fold
            of fewer than 2 pairs, or pairs of one kind only (naming `source`).
    """
    from sklearn.metrics import roc_auc_score
    from sklearn.metrics import roc_curve

    scores, same, folds = np.asarray(scores, float), np.asarray(same, bool), np.asarray(folds)
    check_verification_inputs(scores, same, folds, far_target, source)
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
