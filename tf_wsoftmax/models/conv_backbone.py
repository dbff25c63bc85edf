"""Plain convolutional backbones in the style of the L-Softmax / W-Softmax papers.

Every conv is stride 1 with "same" padding and Xavier init, followed by PReLU
and then batch norm (Sec. 5.1 of the W-Softmax paper: "batch norm after
PReLU", no dropout); each stage ends in 2x2 max pooling; an FC feature layer
(its width is the `feature_dim` the paper sweeps) feeds the classifier head.

The MNIST and CIFAR10 channel widths, conv counts and FC width follow Liu et
al.'s released Caffe prototxts (wy1iu/LargeMargin_Softmax_Loss,
myexamples/{mnist,cifar10}/model/*_train_test.prototxt): a 64-channel pre-conv,
stages of 64/128/256 channels (3 convs each on MNIST, 4 on CIFAR10) and a
512-unit FC. Pooling uses "same" padding, which gives Caffe's ceil-mode sizes
(28 -> 14 -> 7 -> 4). Where the W-Softmax paper says otherwise we follow the
paper: PReLU then batch norm (the release: batch norm then ReLU), Xavier init
(the release: MSRA) and no conv bias under batch norm (the release keeps one).
"""

import math

import keras

from tf_wsoftmax.models.specs import BACKBONES
from tf_wsoftmax.models.specs import BackboneSpec  # noqa: F401  (re-exported)


def _conv_unit(filters, spec, kernel_regularizer, bn_momentum, name):
    layers = [
        keras.layers.Conv2D(
            filters,
            spec.kernel_size,
            padding="same",
            use_bias=not spec.batch_norm,
            kernel_initializer="glorot_uniform",
            kernel_regularizer=kernel_regularizer,
            name=f"{name}_conv",
        ),
        keras.layers.PReLU(shared_axes=[1, 2], name=f"{name}_prelu"),
    ]
    if spec.batch_norm:
        layers.append(keras.layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn"))
    return layers


def build_backbone(
    architecture,
    input_shape,
    feature_dim=None,
    kernel_regularizer=None,
    bn_momentum=0.9,
    name=None,
):
    """Builds a feature extractor from `BACKBONES` (or a `BackboneSpec`).

    Args:
        architecture: a key of `BACKBONES` or a `BackboneSpec`.
        input_shape: (H, W, C).
        feature_dim: width of the FC feature layer. Defaults to the spec's.
        kernel_regularizer: regulariser of every kernel (e.g.
            `paper_kernel_regularizer()`). Defaults to None.
        bn_momentum: batch-norm moving-average momentum. Defaults to 0.9
            (Keras' 0.99 leaves the test-time statistics far behind on short
            runs and small datasets).
        name: model name. Defaults to the architecture key.

    Returns:
        A `keras.Sequential` mapping images to (B, feature_dim) features. Its
        last layers are named "features" (the FC layer), "features_prelu" and,
        with batch norm, "features_bn".
    """
    spec = BACKBONES[architecture] if isinstance(architecture, str) else architecture
    feature_dim = spec.feature_dim if feature_dim is None else feature_dim
    if feature_dim < 1:
        raise ValueError(f"`feature_dim` must be >= 1. Received: feature_dim={feature_dim}")
    layers = [keras.Input(shape=input_shape)]
    if spec.stem_filters:
        layers += _conv_unit(spec.stem_filters, spec, kernel_regularizer, bn_momentum, "stem")
    for stage, (filters, convs) in enumerate(spec.stages):
        for index in range(convs):
            layers += _conv_unit(filters, spec, kernel_regularizer, bn_momentum, f"stage{stage}_{index}")
        layers.append(keras.layers.MaxPooling2D(2, padding=spec.pool_padding, name=f"stage{stage}_pool"))
    layers += [
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(
            feature_dim,
            kernel_initializer="glorot_uniform",
            kernel_regularizer=kernel_regularizer,
            name="features",
        ),
        keras.layers.PReLU(name="features_prelu"),
    ]
    if spec.batch_norm:
        layers.append(keras.layers.BatchNormalization(momentum=bn_momentum, name="features_bn"))
    default_name = architecture if isinstance(architecture, str) else "backbone"
    return keras.Sequential(layers, name=name or default_name)


def build_small_cnn(input_shape=(8, 8, 1), feature_dim=32, kernel_regularizer=None, bn_momentum=0.9):
    """The digits demo's backbone: `build_backbone("small", ...)`.

    Args:
        input_shape: Defaults to (8, 8, 1) (digits).
        feature_dim: Defaults to 32.
        kernel_regularizer: Defaults to None.
        bn_momentum: Defaults to 0.9.

    Returns:
        A `keras.Sequential` feature extractor.
    """
    return build_backbone("small", input_shape, feature_dim, kernel_regularizer, bn_momentum, name="small_cnn")


def array_parameter_count(layer):
    """Values in a layer's weight arrays; scalar state (a head's alpha, step counter) is not counted."""
    return sum(math.prod(weight.shape) for weight in layer.weights if len(weight.shape))


def fc_parameter_count(backbone, head):
    """Parameters of the FC feature layer plus the classifier head (Fig. 4's memory)."""
    return backbone.get_layer("features").count_params() + array_parameter_count(head)


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
