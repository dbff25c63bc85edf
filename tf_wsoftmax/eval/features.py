"""Running a trained backbone + head over a dataset."""

import numpy as np

from tf_wsoftmax.training import classifier_logits


def collect_features(backbone, head, dataset):
    """Test-mode features, logits and labels of a batched dataset.

    Args:
        backbone: Keras model, images -> features.
        head: classifier layer.
        dataset: batched `tf.data.Dataset` of (images, labels).

    Returns:
        (features (N, d), logits (N, K), labels (N,)) as numpy arrays.
    """
    features, logits, labels = [], [], []
    for images, batch_labels in dataset:
        batch_features, batch_logits = classifier_logits(backbone, head, images)
        features.append(np.asarray(batch_features))
        logits.append(np.asarray(batch_logits))
        labels.append(np.asarray(batch_labels))
    return np.concatenate(features), np.concatenate(logits), np.concatenate(labels)
