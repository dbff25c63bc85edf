"""Independent float64 NumPy references, written from the papers' equations.

Nothing here imports tf_wsoftmax: these are loops over samples and classes
that follow the text of Eq. 1 / Eq. 10-13 literally.
"""

import numpy as np

# tf.math.l2_normalize's convention: v / sqrt(max(||v||^2, eps)).
EPS = 1e-12


def normalise(vector):
    """v / ||v|| with the l2_normalize floor for (near) zero vectors."""
    return vector / np.sqrt(max(float(vector @ vector), EPS))


def wsoftmax_logits(features, kernel, labels, alpha):
    """Eq. 1: f_iy = x_i . W_y, f_ij = x_i . normalise(W_j + alpha W_y) for j != y."""
    features = np.asarray(features, np.float64)
    kernel = np.asarray(kernel, np.float64)
    batch, num_classes = features.shape[0], kernel.shape[1]
    unit = [normalise(kernel[:, j]) for j in range(num_classes)]
    logits = np.zeros((batch, num_classes))
    for i in range(batch):
        y = int(labels[i])
        for j in range(num_classes):
            if j == y:
                logits[i, j] = features[i] @ unit[y]
            else:
                logits[i, j] = features[i] @ normalise(unit[j] + alpha * unit[y])
    return logits


def normalized_logits(features, kernel):
    """x . W_j / ||W_j|| (test-time logits)."""
    features = np.asarray(features, np.float64)
    kernel = np.asarray(kernel, np.float64)
    return np.stack(
        [[features[i] @ normalise(kernel[:, j]) for j in range(kernel.shape[1])] for i in range(len(features))]
    )


def softmax_cross_entropy(logits, labels):
    """Per-sample -log softmax(logits)_y (Eq. 10-13)."""
    logits = np.asarray(logits, np.float64)
    out = np.zeros(len(logits))
    for i, row in enumerate(logits):
        shifted = row - row.max()
        out[i] = -(shifted[int(labels[i])] - np.log(np.sum(np.exp(shifted))))
    return out


def mean_class_angles(features, labels, kernel):
    """Eq. 14 by loops: per class, mean arccos(x . W_y / (|x| |W_y|)) in degrees."""
    features = np.asarray(features, np.float64)
    kernel = np.asarray(kernel, np.float64)
    out = []
    for c in range(kernel.shape[1]):
        angles = []
        for x, y in zip(features, labels):
            if int(y) == c:
                w = kernel[:, c]
                cos = x @ w / (np.linalg.norm(x) * np.linalg.norm(w))
                angles.append(np.degrees(np.arccos(np.clip(cos, -1, 1))))
        out.append(np.mean(angles) if angles else np.nan)
    return np.array(out)
