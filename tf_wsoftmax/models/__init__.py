"""Backbones."""

from tf_wsoftmax.models.conv_backbone import BACKBONES
from tf_wsoftmax.models.conv_backbone import BackboneSpec
from tf_wsoftmax.models.conv_backbone import array_parameter_count
from tf_wsoftmax.models.conv_backbone import build_backbone
from tf_wsoftmax.models.conv_backbone import build_small_cnn
from tf_wsoftmax.models.conv_backbone import classifier
from tf_wsoftmax.models.conv_backbone import fc_parameter_count
from tf_wsoftmax.models.face import FACE_BACKBONES
from tf_wsoftmax.models.face import build_face_embedder
from tf_wsoftmax.models.face import forward_flops

__all__ = [
    "BACKBONES",
    "BackboneSpec",
    "FACE_BACKBONES",
    "build_face_embedder",
    "forward_flops",
    "build_backbone",
    "build_small_cnn",
    "classifier",
    "array_parameter_count",
    "fc_parameter_count",
]
