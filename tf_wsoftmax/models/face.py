"""Face embedding networks: a Keras backbone, global pooling and an embedding layer."""

import keras

FACE_BACKBONES = ("mobilenet_v2", "resnet50", "small")


def build_face_embedder(feature_dim=128, image_size=160, backbone="mobilenet_v2", kernel_regularizer=None):
    """Images (x - 127.5) / 128 of shape (S, S, 3) -> (B, feature_dim) embeddings.

    The backbone comes from `keras.applications` with random initialisation
    (`weights=None`: nothing is downloaded): MobileNetV2 (2.3M parameters,
    CPU-friendly) or ResNet50. keras-cv's backbones would fit too, but load
    their architectures through presets fetched from the internet. "small"
    is a 3-stage conv net for tests. The embedding layer is Dense + batch
    norm, as in facenet; the classifier head is added for training only.

    Args:
        feature_dim: embedding width (the feature width, as everywhere in the package). Defaults to 128.
        image_size: input side. Defaults to 160 (the paper's).
        backbone: one of `FACE_BACKBONES`.
        kernel_regularizer: regulariser of the embedding kernel.

    Returns:
        A functional `keras.Model` named "face_embedder".
    """
    if backbone not in FACE_BACKBONES:
        raise ValueError(f"Unknown face backbone '{backbone}'. Known: {', '.join(FACE_BACKBONES)}")
    inputs = keras.Input((image_size, image_size, 3), name="faces")
    if backbone == "mobilenet_v2":
        trunk = keras.applications.MobileNetV2(include_top=False, weights=None, input_tensor=inputs)
        x = trunk.output
    elif backbone == "resnet50":
        trunk = keras.applications.ResNet50(include_top=False, weights=None, input_tensor=inputs)
        x = trunk.output
    else:
        x = inputs
        for filters in (16, 32, 64):
            x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", use_bias=False)(x)
            x = keras.layers.PReLU(shared_axes=[1, 2])(x)
            x = keras.layers.BatchNormalization(momentum=0.9)(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dense(feature_dim, use_bias=False, kernel_regularizer=kernel_regularizer, name="embedding")(x)
    outputs = keras.layers.BatchNormalization(name="embedding_bn")(x)
    return keras.Model(inputs, outputs, name="face_embedder")
