"""SavedModel export for TF Serving and its client."""

from tf_wsoftmax.export.client import grpc_predict
from tf_wsoftmax.export.client import grpc_request
from tf_wsoftmax.export.client import rest_payload
from tf_wsoftmax.export.client import rest_predict
from tf_wsoftmax.export.client import rest_url
from tf_wsoftmax.export.serving import MAX_PIXELS
from tf_wsoftmax.export.serving import SIGNATURES
from tf_wsoftmax.export.serving import export_classifier
from tf_wsoftmax.export.serving import export_embedder
from tf_wsoftmax.export.serving import serving_path

__all__ = [
    "MAX_PIXELS",
    "SIGNATURES",
    "export_classifier",
    "export_embedder",
    "grpc_predict",
    "grpc_request",
    "rest_payload",
    "rest_predict",
    "rest_url",
    "serving_path",
]
