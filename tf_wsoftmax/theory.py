"""Minimum FC units and the regular simplex (Li & Wang 2019, Sec. 3, Eq. 2-4)."""

import numpy as np


def _check_num_classes(num_classes):
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError(f"`num_classes` must be an int >= 2. Received: num_classes={num_classes}")
    return int(num_classes)


def min_units(num_classes):
    """The fewest feature units that let K unit class vectors be equiangular: K - 1.

    Args:
        num_classes: K >= 2.

    Returns:
        K - 1.
    """
    return _check_num_classes(num_classes) - 1


def simplex_weights(num_classes, dim=None):
    """K unit column vectors with all pairwise cosines -1/(K-1) (a regular simplex).

    Built recursively as in the paper: the 2-class solution is (1), (-1) on a
    line; to go from k to k + 1 classes, the k existing vectors are scaled by
    sqrt(1 - 1/k^2) and given the coordinate -1/k on a new axis, and the new
    vector is the unit vector of that axis. Each step keeps unit norms and
    makes every pairwise cosine -1/k.

    Args:
        num_classes: K >= 2.
        dim: feature dimension d >= K - 1; extra dimensions are zero (the
            simplex embedded in R^d). Defaults to K - 1.

    Returns:
        float64 array of shape (d, K) with unit columns.

    Raises:
        ValueError: if dim < K - 1, where K equiangular unit vectors cannot
            exist (their Gram matrix has rank K - 1).
    """
    num_classes = _check_num_classes(num_classes)
    needed = num_classes - 1
    dim = needed if dim is None else dim
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < needed:
        raise ValueError(
            f"`dim` must be an int >= num_classes - 1 = {needed}: {num_classes} unit vectors "
            f"with equal pairwise angles span {needed} dimensions (their Gram matrix "
            f"(K/(K-1)) I - 1/(K-1) 11^T has rank K - 1). Received: dim={dim}"
        )
    vectors = np.array([[1.0, -1.0]])  # (1, 2): the 2-class simplex
    for k in range(2, num_classes):
        scaled = vectors * np.sqrt(1.0 - 1.0 / k**2)
        old = np.vstack([scaled, np.full((1, k), -1.0 / k)])
        new = np.zeros((k, 1))
        new[-1, 0] = 1.0
        vectors = np.hstack([old, new])
    return np.vstack([vectors, np.zeros((dim - needed, num_classes))])
