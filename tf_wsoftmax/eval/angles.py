"""Angle statistics between features and class weight vectors (Eq. 14)."""

import numpy as np


def mean_class_angles(features, labels, kernel):
    """Per-class mean angle between features and their own class vector (Eq. 14).

    For class j: mean over samples i with y_i = j of
    arccos(x_i . W_j / (||x_i|| ||W_j||)), in degrees. Lower means more
    compact classes around W_j.

    Args:
        features: array (N, d).
        labels: int array (N,).
        kernel: array (d, K) of class vectors (any norm; only angles count).

    Returns:
        float64 array (K,) of degrees; NaN for classes without samples.
    """
    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    kernel = np.asarray(kernel, dtype=np.float64)
    if features.ndim != 2 or kernel.ndim != 2 or features.shape[1] != kernel.shape[0]:
        raise ValueError(
            f"Expected features (N, d) and kernel (d, K); got {features.shape} and {kernel.shape}."
        )
    if labels.shape[0] != features.shape[0]:
        raise ValueError(f"{labels.shape[0]} labels for {features.shape[0]} features.")
    num_classes = kernel.shape[1]
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must be in [0, {num_classes}).")
    feature_norms = np.maximum(np.linalg.norm(features, axis=1), 1e-12)
    class_vectors = kernel[:, labels].T  # (N, d): W_{y_i}
    class_norms = np.maximum(np.linalg.norm(class_vectors, axis=1), 1e-12)
    cosines = np.sum(features * class_vectors, axis=1) / (feature_norms * class_norms)
    angles = np.degrees(np.arccos(np.clip(cosines, -1.0, 1.0)))
    sums = np.bincount(labels, weights=angles, minlength=num_classes)
    counts = np.bincount(labels, minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _degrees_between(features, kernel):
    features = np.asarray(features, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    unit_x = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    unit_w = kernel / np.maximum(np.linalg.norm(kernel, axis=0, keepdims=True), 1e-12)
    return np.degrees(np.arccos(np.clip(unit_x @ unit_w, -1.0, 1.0)))


def project_onto_span(features, kernel):
    """Orthogonal projection of each feature onto the column span of the kernel.

    Args:
        features: array (N, d).
        kernel: array (d, K).

    Returns:
        float64 array (N, d): the part of each feature that the logits see.
    """
    features = np.asarray(features, dtype=np.float64)
    basis, singular, _ = np.linalg.svd(np.asarray(kernel, dtype=np.float64), full_matrices=False)
    rank = int(np.sum(singular > singular.max() * 1e-10)) if singular.size else 0
    basis = basis[:, :rank]
    return features @ basis @ basis.T


def weight_geometry(kernel):
    """How spread the class vectors are.

    Args:
        kernel: array (d, K) of class vectors.

    Returns:
        dict: "mean_pairwise_cosine" (over pairs j < k of unit vectors; the
        regular simplex gives -1/(K-1)) and "mean_vector_norm" (||mean of
        the unit vectors||; 0 for the simplex, 1 if all coincide).
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    unit = kernel / np.maximum(np.linalg.norm(kernel, axis=0, keepdims=True), 1e-12)
    cosines = unit.T @ unit
    upper = np.triu_indices(unit.shape[1], k=1)
    return {
        "mean_pairwise_cosine": float(cosines[upper].mean()) if upper[0].size else float("nan"),
        "mean_vector_norm": float(np.linalg.norm(unit.mean(axis=1))),
    }


def angle_statistics(features, labels, kernel):
    """Intra- and inter-class angle statistics (degrees).

    Args:
        features: array (N, d).
        labels: int array (N,).
        kernel: array (d, K).

    Returns:
        dict: "per_class" (Eq. 14, a list of K), "intra_mean" (mean of the
        per-class means), "inter_mean" (mean angle between a feature and the
        other classes' vectors), "inter_nearest_mean" (mean over samples of
        the angle to the nearest wrong class vector) and
        "weights_min_angle" (smallest angle between two class vectors).
    """
    per_class = mean_class_angles(features, labels, kernel)
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    angles = _degrees_between(features, kernel)  # (N, K)
    others = np.ones_like(angles, dtype=bool)
    others[np.arange(len(labels)), labels] = False
    weight_angles = _degrees_between(np.asarray(kernel).T, kernel)
    np.fill_diagonal(weight_angles, np.inf)
    return {
        "per_class": [float(a) for a in per_class],
        "intra_mean": float(np.nanmean(per_class)),
        "inter_mean": float(angles[others].mean()),
        "inter_nearest_mean": float(np.where(others, angles, np.inf).min(axis=1).mean()),
        "weights_min_angle": float(weight_angles.min()),
        "intra_span_mean": float(np.nanmean(mean_class_angles(project_onto_span(features, kernel), labels, kernel))),
        "feature_norm_mean": float(np.linalg.norm(np.asarray(features, dtype=np.float64), axis=1).mean()),
        **{f"weights_{key}": value for key, value in weight_geometry(kernel).items()},
    }
