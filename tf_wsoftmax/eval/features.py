"""Running a trained backbone + head over a dataset."""

import keras
import numpy as np


def collect_features(backbone, head, batches):
    """Test-mode features, logits and labels of a dataset, through one compiled `predict`.

    Args:
        backbone: Keras model, images -> features (its input shape known).
        head: classifier layer (test-time logits).
        batches: batches of (images, labels), e.g. `tf_wsoftmax.data.ArrayBatches`
            (its `labels` are read directly when it has them).

    Returns:
        (features (N, d), logits (N, K), labels (N,)) as NumPy arrays.
    """
    inputs = keras.Input(shape=backbone.input_shape[1:])
    features = backbone(inputs, training=False)
    features, logits = keras.Model(inputs, [features, head(features, training=False)]).predict(batches, verbose=0)
    labels = getattr(batches, "labels", None)
    if labels is None:
        labels = np.concatenate([np.asarray(y) for _, y in batches])
    return np.asarray(features), np.asarray(logits), np.asarray(labels)
