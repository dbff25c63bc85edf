"""The inference forward pass of backbone + head, for evaluation code."""


def classifier_logits(backbone, head, images):
    """Runs backbone and head in inference mode (the test-time logits).

    Args:
        backbone: Keras model mapping images to features (B, d).
        head: the classifier layer (a margin head or a plain `Dense`).
        images: input batch.

    Returns:
        (features, logits).
    """
    features = backbone(images, training=False)
    return features, head(features, training=False)
