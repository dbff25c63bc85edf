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


def wsoftmax_loss(features, kernel, labels, alpha, frozen_kernel=None):
    """Summed Eq. 10-13 cross-entropy of the Eq. 1 logits, written per sample and class.

    With `frozen_kernel`, the bias alpha W_y and the norm ||W_j + alpha W_y||
    of every negative logit come from that frozen copy, while x . W_j and the
    positive logit x . W_y use `kernel`:
        f_ij = x_i . (W_j + alpha W0_y) / ||W0_j + alpha W0_y||.
    At kernel == frozen_kernel the value is Eq. 1's, and finite differences
    of this function in `features` and `kernel` are the "stop" gradient.
    """
    features = np.asarray(features, np.float64)
    kernel = np.asarray(kernel, np.float64)
    frozen = kernel if frozen_kernel is None else np.asarray(frozen_kernel, np.float64)
    num_classes = kernel.shape[1]
    unit = [normalise(kernel[:, j]) for j in range(num_classes)]
    frozen_unit = [normalise(frozen[:, j]) for j in range(num_classes)]
    logits = np.zeros((features.shape[0], num_classes))
    for i, x in enumerate(features):
        y = int(labels[i])
        for j in range(num_classes):
            if j == y:
                logits[i, j] = x @ unit[y]
            else:
                bias = alpha * (unit[y] if frozen_kernel is None else frozen_unit[y])
                norm = np.sqrt(max(float(np.sum((frozen_unit[j] + alpha * frozen_unit[y]) ** 2)), EPS))
                if frozen_kernel is None:
                    norm = np.sqrt(max(float(np.sum((unit[j] + alpha * unit[y]) ** 2)), EPS))
                logits[i, j] = x @ (unit[j] + bias) / norm
    return float(softmax_cross_entropy(logits, labels).sum())


def central_differences(function, value, delta=1e-6):
    """Numerical gradient of a scalar function of one float64 array."""
    value = np.array(value, np.float64)
    gradient = np.zeros_like(value)
    for index in np.ndindex(value.shape):
        step = np.zeros_like(value)
        step[index] = delta
        gradient[index] = (function(value + step) - function(value - step)) / (2 * delta)
    return gradient


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


def psi(theta, margin):
    """L-Softmax Eq. 6 on the angle itself: (-1)^k cos(m t) - 2k, t in [k pi/m, (k+1) pi/m]."""
    k = min(int(np.floor(theta * margin / np.pi)), margin - 1)
    return (-1) ** k * np.cos(margin * theta) - 2 * k


def _angle(a, b):
    cos = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    return np.arccos(np.clip(cos, -1.0, 1.0))


def lsoftmax_logits(features, kernel, labels, margin, lambda_=0.0):
    """L-Softmax: f_j = W_j.x; f_y = (|W_y||x| psi(t_y) + lambda W_y.x) / (1 + lambda)."""
    features = np.asarray(features, np.float64)
    kernel = np.asarray(kernel, np.float64)
    logits = features @ kernel
    for i, y in enumerate(labels):
        w, x = kernel[:, y], features[i]
        t = _angle(w, x)
        margin_term = np.linalg.norm(w) * np.linalg.norm(x) * psi(t, margin)
        logits[i, y] = (margin_term + lambda_ * (w @ x)) / (1.0 + lambda_)
    return logits


def sphereface_logits(features, kernel, labels, margin, lambda_=0.0):
    """A-Softmax: L-Softmax on unit class vectors."""
    kernel = np.asarray(kernel, np.float64)
    return lsoftmax_logits(features, kernel / np.linalg.norm(kernel, axis=0), labels, margin, lambda_)


def cosface_logits(features, kernel, labels, scale, margin):
    """s cos t_j; target s (cos t_y - m)."""
    out = np.zeros((len(features), kernel.shape[1]))
    for i, x in enumerate(np.asarray(features, np.float64)):
        for j in range(kernel.shape[1]):
            cos = np.cos(_angle(x, np.asarray(kernel[:, j], np.float64)))
            out[i, j] = scale * (cos - margin if j == labels[i] else cos)
    return out


def arcface_logits(features, kernel, labels, scale, margin):
    """s cos t_j; target s cos(t_y + m) if t_y + m <= pi else s (cos t_y - m sin(pi - m))."""
    out = np.zeros((len(features), kernel.shape[1]))
    for i, x in enumerate(np.asarray(features, np.float64)):
        for j in range(kernel.shape[1]):
            t = _angle(x, np.asarray(kernel[:, j], np.float64))
            if j != labels[i]:
                out[i, j] = scale * np.cos(t)
            elif t + margin <= np.pi:
                out[i, j] = scale * np.cos(t + margin)
            else:
                out[i, j] = scale * (np.cos(t) - margin * np.sin(np.pi - margin))
    return out


def center_loss(features, centers, labels):
    """1/2 ||x_i - c_{y_i}||^2 per sample."""
    return np.array([0.5 * np.sum((x - centers[y]) ** 2) for x, y in zip(features, labels)])


def center_update(features, centers, labels, alpha):
    """Wen et al. Eq. 4, class by class."""
    new = np.array(centers, np.float64)
    for j in range(len(centers)):
        members = [x for x, y in zip(features, labels) if y == j]
        delta = sum((centers[j] - x for x in members), np.zeros(centers.shape[1])) / (1 + len(members))
        new[j] = centers[j] - alpha * delta
    return new


def contrastive_center_loss(features, centers, labels, delta):
    """1/2 ||x - c_y||^2 / (sum_{j != y} ||x - c_j||^2 + delta) per sample."""
    out = []
    for x, y in zip(features, labels):
        own = np.sum((x - centers[y]) ** 2)
        others = sum(np.sum((x - centers[j]) ** 2) for j in range(len(centers)) if j != y)
        out.append(0.5 * own / (others + delta))
    return np.array(out)
