"""Keras layers: the normalised classifier head."""

from tf_wsoftmax.layers.normalized_dense import NormalizedDense

__all__ = ["NormalizedDense"]
