"""Keras layers: classifier heads and centre-holding layers."""

from tf_wsoftmax.layers.additive_margin_head import AdditiveMarginHead
from tf_wsoftmax.layers.arcface_dense import ArcFaceDense
from tf_wsoftmax.layers.cosface_dense import CosFaceDense
from tf_wsoftmax.layers.angular_margin_head import AngularMarginHead
from tf_wsoftmax.layers.lsoftmax_dense import LSoftmaxDense
from tf_wsoftmax.layers.sphereface_dense import SphereFaceDense
from tf_wsoftmax.layers.center_loss_layer import CenterLossLayer
from tf_wsoftmax.layers.class_centers import ClassCenters
from tf_wsoftmax.layers.contrastive_center_loss_layer import ContrastiveCenterLossLayer
from tf_wsoftmax.layers.margin_head import MarginHead
from tf_wsoftmax.layers.margin_head import TrainingLoss
from tf_wsoftmax.layers.margin_head import TrainingPass
from tf_wsoftmax.layers.normalized_dense import NormalizedDense

__all__ = [
    "AdditiveMarginHead",
    "AngularMarginHead",
    "ArcFaceDense",
    "CenterLossLayer",
    "ClassCenters",
    "ContrastiveCenterLossLayer",
    "CosFaceDense",
    "LSoftmaxDense",
    "MarginHead",
    "NormalizedDense",
    "SphereFaceDense",
    "TrainingLoss",
    "TrainingPass",
]
