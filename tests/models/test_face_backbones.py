"""Face backbones from keras-cv (built offline from architecture arguments) and the embedding block."""

import keras
import keras_cv
import numpy as np
import pytest

from tf_wsoftmax.models import build_face_embedder
from tf_wsoftmax.models import forward_flops


def trunk_of(model):
    return next(layer for layer in model.layers if isinstance(layer, keras.Model))


def test_embedding_block_is_bn_dropout_flatten_dense_bn():
    model = build_face_embedder(8, 32, "small", dropout=0.2)
    names = [layer.name for layer in model.layers[-5:]]
    assert names == ["features_bn", "features_dropout", "flatten", "embedding", "embedding_bn"]
    assert model.get_layer("features_dropout").rate == 0.2
    assert model(np.zeros((2, 32, 32, 3), "float32")).shape == (2, 8)


def test_mobilenet_v3_small_is_keras_cv_with_the_papers_table():
    """Same parameter count as keras.applications' MobileNetV3Small (an independent
    implementation of Howard et al.'s Table 2) without its top."""
    model = build_face_embedder(128, 112, "mobilenet_v3_small")
    trunk = trunk_of(model)
    assert isinstance(trunk, keras_cv.models.MobileNetV3Backbone)
    reference = keras.applications.MobileNetV3Small(
        include_top=False, include_preprocessing=False, weights=None, input_shape=(112, 112, 3)
    )
    assert trunk.count_params() == reference.count_params() == 939_120
    assert trunk.output_shape == (None, 4, 4, 576)
    head = 4 * 576 + (4 * 4 * 576) * 128 + 4 * 128  # BN (4 weights per channel), Dense, BN
    assert model.count_params() == trunk.count_params() + head


def test_iresnet50_has_insightface_depths():
    model = build_face_embedder(512, 112, "iresnet50")
    trunk = trunk_of(model)
    assert isinstance(trunk, keras_cv.models.ResNetV2Backbone)
    config = trunk.get_config()
    assert config["stackwise_blocks"] == [3, 4, 14, 3] and config["block_type"] == "basic_block"
    assert config["stackwise_filters"] == [64, 128, 256, 512]
    assert model.output_shape == (None, 512)


def test_forward_flops_counts_a_dense_layer_exactly():
    model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(3, use_bias=False)])
    assert forward_flops(model) == 2 * 10 * 3


def test_unknown_backbone_is_an_error():
    with pytest.raises(ValueError, match="Unknown face backbone 'mobilenet_v2'"):
        build_face_embedder(8, 32, "mobilenet_v2")
