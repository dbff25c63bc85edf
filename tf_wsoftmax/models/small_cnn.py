"""A small CNN in the paper's style for small images (the offline digits demo)."""

import keras


def conv_block(filters, kernel_regularizer, bn_momentum, name):
    """3x3 stride-1 conv (Xavier init, no bias), PReLU, then batch norm (Sec. 5.1)."""
    return [
        keras.layers.Conv2D(
            filters,
            3,
            padding="same",
            use_bias=False,
            kernel_initializer="glorot_uniform",
            kernel_regularizer=kernel_regularizer,
            name=f"{name}_conv",
        ),
        keras.layers.PReLU(shared_axes=[1, 2], name=f"{name}_prelu"),
        keras.layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn"),
    ]


def build_small_cnn(
    input_shape=(8, 8, 1),
    feature_dim=32,
    filters=(32, 64),
    kernel_regularizer=None,
    bn_momentum=0.9,
):
    """Feature extractor: [conv-PReLU-BN x2, maxpool] per stage, then an FC feature layer.

    Args:
        input_shape: image shape (H, W, C). Defaults to (8, 8, 1) (digits).
        feature_dim: width of the FC feature layer fed to the classifier.
            Defaults to 32.
        filters: conv filters per stage; each stage halves H and W.
            Defaults to (32, 64).
        kernel_regularizer: regulariser of every kernel (e.g.
            `paper_kernel_regularizer()`). Defaults to None.
        bn_momentum: batch-norm moving-average momentum. Defaults to 0.9
            (Keras' 0.99 leaves the test-time statistics far behind the
            weights on a dataset of a few dozen batches per epoch).

    Returns:
        A `keras.Sequential` mapping images to (B, feature_dim) features.
    """
    layers = [keras.Input(shape=input_shape)]
    for stage, width in enumerate(filters):
        layers += conv_block(width, kernel_regularizer, bn_momentum, f"stage{stage}a")
        layers += conv_block(width, kernel_regularizer, bn_momentum, f"stage{stage}b")
        layers.append(keras.layers.MaxPooling2D(2, name=f"stage{stage}_pool"))
    layers += [
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(
            feature_dim,
            kernel_initializer="glorot_uniform",
            kernel_regularizer=kernel_regularizer,
            name="features",
        ),
        keras.layers.PReLU(name="features_prelu"),
        keras.layers.BatchNormalization(momentum=bn_momentum, name="features_bn"),
    ]
    return keras.Sequential(layers, name="small_cnn")


def classifier(backbone, head, name="classifier"):
    """Backbone followed by the head, as one model (inference and `fit`).

    Args:
        backbone: Keras model producing features.
        head: classifier layer.
        name: model name.

    Returns:
        A functional `keras.Model` from the backbone's inputs to the logits.
    """
    inputs = keras.Input(shape=backbone.input_shape[1:])
    return keras.Model(inputs, head(backbone(inputs)), name=name)
