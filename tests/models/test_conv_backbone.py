"""Backbones: output shapes and parameter counts derived from the layer table."""

import keras
import numpy as np
import pytest

from tf_wsoftmax.layers import NormalizedDense
from tf_wsoftmax.models import BACKBONES
from tf_wsoftmax.models import build_backbone
from tf_wsoftmax.models import fc_parameter_count

SHAPES = {"mnist": (28, 28, 1), "cifar10": (32, 32, 3), "cifar100": (32, 32, 3), "lenets_pp": (28, 28, 1), "small": (8, 8, 1),
          "tiny": (28, 28, 1)}


def expected_parameters(spec, input_shape, feature_dim):
    """Counts parameters from the architecture table by hand.

    conv k x k: k*k*in*out (+ out bias without batch norm); PReLU shared over
    H, W: out; batch norm: 4*out (gamma, beta, moving mean, moving var);
    FC: in*units + units; PReLU: units; BN: 4*units. A 2x2 pool halves H
    and W, rounding down ("valid") or up ("same", Caffe's ceil mode).
    """
    height, width, channels = input_shape
    total = 0
    bn = 4 if spec.batch_norm else 0
    convs = ([spec.stem_filters] if spec.stem_filters else []) + [
        f for f, n in spec.stages for _ in range(n)
    ]
    boundaries = np.cumsum([1 if spec.stem_filters else 0] + [n for _, n in spec.stages])
    for index, filters in enumerate(convs):
        total += spec.kernel_size**2 * channels * filters + (0 if spec.batch_norm else filters)
        total += filters + bn * filters
        channels = filters
        if index + 1 in boundaries[1:]:
            halve = (lambda n: -(-n // 2)) if spec.pool_padding == "same" else (lambda n: n // 2)
            height, width = halve(height), halve(width)
    flat = height * width * channels
    return total + flat * feature_dim + feature_dim + feature_dim + bn * feature_dim


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_output_shape_and_parameter_count(name):
    spec = BACKBONES[name]
    model = build_backbone(name, SHAPES[name])
    assert model.output_shape == (None, spec.feature_dim)
    assert model.count_params() == expected_parameters(spec, SHAPES[name], spec.feature_dim)


def test_feature_width_and_fc_parameters():
    model = build_backbone("small", (8, 8, 1), feature_dim=9)
    head = NormalizedDense(10)
    head.build((None, 9))
    flat = 2 * 2 * 64  # 8x8 pooled twice, 64 channels
    assert model.output_shape == (None, 9)
    assert fc_parameter_count(model, head) == flat * 9 + 9 + 9 * 10
    with pytest.raises(ValueError, match="feature_dim"):
        build_backbone("small", (8, 8, 1), feature_dim=0)


def test_paper_networks_follow_the_released_prototxts():
    """Liu et al.'s released MNIST / CIFAR10 nets: 64-channel pre-conv, stages
    of 64/128/256 channels (3 / 4 convs), FC 512, pooled to 4x4x256 (Caffe's
    ceil-mode pooling on 28 -> 14 -> 7 -> 4)."""
    assert BACKBONES["mnist"].stages == ((64, 3), (128, 3), (256, 3))
    assert BACKBONES["cifar10"].stages == ((64, 4), (128, 4), (256, 4))
    for name, shape in (("mnist", (28, 28, 1)), ("cifar10", (32, 32, 3))):
        spec = BACKBONES[name]
        assert spec.stem_filters == 64 and spec.feature_dim == 512
        model = build_backbone(name, shape)
        assert model.get_layer("flatten").output.shape[-1] == 4 * 4 * 256
        assert model.get_layer("features").count_params() == 4 * 4 * 256 * 512 + 512
        convs = [layer for layer in model.layers if layer.name.endswith("_conv")]
        assert len(convs) == 1 + sum(n for _, n in spec.stages)
        assert all(layer.strides == (1, 1) and not layer.use_bias for layer in convs)
        assert isinstance(convs[0].kernel_initializer, keras.initializers.GlorotUniform)
        # PReLU before batch norm, as the W-Softmax paper states
        names = [layer.name for layer in model.layers]
        assert names.index("stem_prelu") < names.index("stem_bn")
