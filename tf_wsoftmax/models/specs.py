"""The backbones' architectures and names, as plain data (no Keras import).

The command line builds its `--backbone` / `--dataset` choices from here
without starting Keras; `conv_backbone` and `face` build the models.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """Architecture of a conv backbone.

    Args:
        stem_filters: filters of a single conv before the stages (0: none).
        stages: ((filters, number of convs), ...); a 2x2 max pool follows each.
        feature_dim: default width of the FC feature layer.
        kernel_size: conv kernel size.
        batch_norm: batch norm after each PReLU.
        pool_padding: "valid" (floor) or "same" (ceil, Caffe's pooling
            output size) for the 2x2 max pools.
    """

    stem_filters: int
    stages: tuple
    feature_dim: int
    kernel_size: int = 3
    batch_norm: bool = True
    pool_padding: str = "valid"


# The L-Softmax networks used by W-Softmax: MNIST and CIFAR10 as released by
# Liu et al. (see the module docstring); CIFAR100 has no released prototxt and
# keeps the widths of the L-Softmax paper's Table 1. LeNets++ of the
# center-loss paper (Wen et al. 2016; 2-D features for plots), a small
# network for the 8x8 digits, and "tiny" (one conv per stage, half the widths) for many-seed
# Fashion-MNIST studies on a CPU.
BACKBONES = {
    "mnist": BackboneSpec(64, ((64, 3), (128, 3), (256, 3)), 512, pool_padding="same"),
    "cifar10": BackboneSpec(64, ((64, 4), (128, 4), (256, 4)), 512, pool_padding="same"),
    "cifar100": BackboneSpec(96, ((96, 4), (192, 4), (384, 4)), 512, pool_padding="same"),
    "lenets_pp": BackboneSpec(0, ((32, 2), (64, 2), (128, 2)), 2, kernel_size=5, batch_norm=False),
    "small": BackboneSpec(0, ((32, 2), (64, 2)), 32),
    "tiny": BackboneSpec(0, ((16, 1), (32, 1)), 32),
}

# The face embedders `tf_wsoftmax.models.build_face_embedder` builds.
FACE_BACKBONES = ("mobilenet_v3_small", "iresnet50", "iresnet100", "small")

# Backbone used for each dataset unless one is given (the L-Softmax paper's
# networks; "small" for the 8x8 digits).
DEFAULT_BACKBONES = {
    "digits": "small",
    "mnist": "mnist",
    "fashion_mnist": "mnist",
    "cifar10": "cifar10",
    "cifar100": "cifar100",
}
