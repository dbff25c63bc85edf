"""Face embedding networks: a keras-cv backbone and InsightFace's BN-Dropout-Dense-BN embedding block.

The backbones are keras-cv classes built from their architecture arguments,
so nothing is downloaded (keras-cv's preset names fetch configurations and
weights from Kaggle; the classes themselves need no network):

- "iresnet50" / "iresnet100": `keras_cv.models.ResNetV2Backbone` with basic
  blocks at InsightFace's IResNet depths ([3, 4, 14, 3] / [3, 13, 30, 3],
  widths 64-128-256-512). Differences from InsightFace's IResNet: keras-cv's
  stem (7x7 stride-2 convolution + max pooling, so a 112 x 112 face ends at
  4 x 4 instead of 7 x 7) and pre-activation blocks with ReLU (IResNet: BN-
  conv-BN-PReLU-conv-BN).
- "mobilenet_v3_small": `keras_cv.models.MobileNetV3Backbone` with the
  MobileNetV3-Small architecture of Howard et al. 2019, Table 2 (11
  bottlenecks); the CPU-sized one.
- "small": three stride-2 convolutions, for tests.

The embedding block is InsightFace's output layer: BatchNorm -> Dropout ->
Flatten -> Dense(feature_dim) -> BatchNorm (no global pooling: the spatial
layout of the last feature map reaches the embedding).
"""

import keras

from tf_wsoftmax.models.specs import FACE_BACKBONES  # noqa: F401  (re-exported)


_IRESNET_BLOCKS = {"iresnet50": [3, 4, 14, 3], "iresnet100": [3, 13, 30, 3]}

# MobileNetV3-Small (Howard et al. 2019, Table 2): per bottleneck the expansion
# (expanded width / input width), output width, kernel, stride, SE ratio, activation.
_MOBILENET_V3_SMALL = dict(
    stackwise_expansion=[1, 72 / 16, 88 / 24, 4, 6, 6, 3, 3, 6, 6, 6],
    stackwise_filters=[16, 24, 24, 40, 40, 40, 48, 48, 96, 96, 96],
    stackwise_kernel_size=[3, 3, 3, 5, 5, 5, 5, 5, 5, 5, 5],
    stackwise_stride=[2, 2, 1, 2, 1, 1, 1, 1, 2, 1, 1],
    stackwise_se_ratio=[0.25, None, None, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25],
    stackwise_activation=["relu", "relu", "relu"] + ["hard_swish"] * 8,
)


def build_backbone_trunk(backbone, inputs):
    """The feature map of `backbone` on `inputs` (a Keras tensor (S, S, 3)).

    Args:
        backbone: one of `FACE_BACKBONES`.
        inputs: the model's input tensor.

    Returns:
        The last feature map (B, h, w, C).
    """
    if backbone not in FACE_BACKBONES:
        raise ValueError(f"Unknown face backbone '{backbone}'. Known: {', '.join(FACE_BACKBONES)}")
    if backbone == "small":
        x = inputs
        for filters in (16, 32, 64):
            x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", use_bias=False)(x)
            x = keras.layers.PReLU(shared_axes=[1, 2])(x)
            x = keras.layers.BatchNormalization(momentum=0.9)(x)
        return x
    import keras_cv

    if backbone in _IRESNET_BLOCKS:
        trunk = keras_cv.models.ResNetV2Backbone(
            stackwise_filters=[64, 128, 256, 512],
            stackwise_blocks=_IRESNET_BLOCKS[backbone],
            stackwise_strides=[1, 2, 2, 2],
            block_type="basic_block",
            include_rescaling=False,
            input_shape=tuple(inputs.shape[1:]),
        )
    else:
        trunk = keras_cv.models.MobileNetV3Backbone(
            **_MOBILENET_V3_SMALL, include_rescaling=False, input_shape=tuple(inputs.shape[1:])
        )
    return trunk(inputs)


def build_face_embedder(
    feature_dim=128, image_size=112, backbone="mobilenet_v3_small", kernel_regularizer=None, dropout=0.0
):
    """Images (x - 127.5) / 128 of shape (S, S, 3) -> (B, feature_dim) embeddings.

    Args:
        feature_dim: embedding width. Defaults to 128.
        image_size: input side. Defaults to 112 (InsightFace's crops).
        backbone: one of `FACE_BACKBONES`. Defaults to "mobilenet_v3_small".
        kernel_regularizer: regulariser of the embedding kernel.
        dropout: the embedding block's dropout rate. Defaults to 0.0
            (InsightFace's arcface_torch default).

    Returns:
        A functional `keras.Model` named "face_embedder" (random initialisation).
    """
    inputs = keras.Input((image_size, image_size, 3), name="faces")
    x = build_backbone_trunk(backbone, inputs)
    x = keras.layers.BatchNormalization(name="features_bn")(x)
    x = keras.layers.Dropout(dropout, name="features_dropout")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(feature_dim, use_bias=False, kernel_regularizer=kernel_regularizer, name="embedding")(x)
    outputs = keras.layers.BatchNormalization(name="embedding_bn")(x)
    return keras.Model(inputs, outputs, name="face_embedder")


def forward_flops(model):
    """FLOPs of one forward pass of a single image, counted by TensorFlow's profiler.

    The model is traced for a batch of one, its variables frozen into
    constants, and `tf.compat.v1.profiler`'s float-operation count read off
    the graph (a multiply-add counts 2).

    Args:
        model: a Keras model with a fixed input shape.

    Returns:
        int.
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    spec = tf.TensorSpec((1,) + tuple(model.input_shape[1:]), tf.float32)
    concrete = tf.function(lambda images: model(images, training=False)).get_concrete_function(spec)
    graph = convert_variables_to_constants_v2(concrete).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder(
        tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    ).with_empty_output().build()
    return int(tf.compat.v1.profiler.profile(graph=graph, options=options).total_float_ops)
