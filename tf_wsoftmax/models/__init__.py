"""Backbones: the paper's convolutional networks and the face embedders.

Names load on first use (PEP 562), so `tf_wsoftmax.models.specs` (plain
data: architectures and names) imports without Keras.
"""

from tf_wsoftmax._lazy import lazy_attributes

_LAZY = {
    "BACKBONES": "tf_wsoftmax.models.specs",
    "BackboneSpec": "tf_wsoftmax.models.specs",
    "DEFAULT_BACKBONES": "tf_wsoftmax.models.specs",
    "FACE_BACKBONES": "tf_wsoftmax.models.specs",
    "array_parameter_count": "tf_wsoftmax.models.conv_backbone",
    "build_backbone": "tf_wsoftmax.models.conv_backbone",
    "build_small_cnn": "tf_wsoftmax.models.conv_backbone",
    "classifier": "tf_wsoftmax.models.conv_backbone",
    "fc_parameter_count": "tf_wsoftmax.models.conv_backbone",
    "build_face_embedder": "tf_wsoftmax.models.face",
    "forward_flops": "tf_wsoftmax.models.face",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_attributes(__name__, {name: (module, name) for name, module in _LAZY.items()})
