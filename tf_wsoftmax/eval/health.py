"""Checks that a finished run learned something: collapsed embeddings, chance accuracy."""

import numpy as np


def mean_pairwise_cosine(embeddings):
    """Mean cosine between distinct rows of an (N, d) array (N >= 2).

    Args:
        embeddings: array (N, d).

    Returns:
        float in [-1, 1]; 1.0 when every row points the same way.
    """
    vectors = np.asarray(embeddings, dtype=np.float64)
    if vectors.ndim != 2 or len(vectors) < 2:
        raise ValueError(f"Expected (N >= 2, d) embeddings; got shape {vectors.shape}.")
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    gram = unit @ unit.T
    n = len(unit)
    return float((gram.sum() - np.trace(gram)) / (n * (n - 1)))


def collapse_warning(embeddings, threshold=0.95):
    """A warning if the embeddings of different images are (nearly) the same direction.

    Args:
        embeddings: array (N, d) of embeddings of different images.
        threshold: mean pairwise cosine above which the embedding has collapsed.

    Returns:
        The warning text, or None.
    """
    spread = mean_pairwise_cosine(embeddings)
    if spread > threshold:
        return (
            f"collapsed embedding: the mean cosine between embeddings of {len(embeddings)} different "
            f"images is {spread:.3f} (> {threshold}); verification will be near chance. Lower the "
            "learning rate, train longer, or check the data."
        )
    return None


def chance_warning(accuracy, num_classes, factor=1.5):
    """A warning if a classifier's accuracy is within `factor` of chance (1 / K).

    Args:
        accuracy: accuracy in [0, 1].
        num_classes: K.
        factor: accuracies below factor / K are reported.

    Returns:
        The warning text, or None.
    """
    chance = 1.0 / num_classes
    if accuracy < factor * chance:
        return (
            f"stuck at chance: accuracy {accuracy:.4f} with {num_classes} classes (chance {chance:.4f}). "
            "Check the learning rate, alpha and the data."
        )
    return None
