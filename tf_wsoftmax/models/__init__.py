"""Backbones."""

from tf_wsoftmax.models.small_cnn import build_small_cnn
from tf_wsoftmax.models.small_cnn import classifier

__all__ = ["build_small_cnn", "classifier"]
