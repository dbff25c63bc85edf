"""Client of the TF Serving face-embedding model: REST (JSON) and gRPC."""

import base64
import json
import urllib.request

import numpy as np


def rest_payload(faces=None, encoded_images=None):
    """The JSON body of a REST predict call.

    Args:
        faces: array [N, S, S, 3] with values in 0..255 (signature
            `serving_default`), or
        encoded_images: list of JPEG/PNG byte strings (signature `serve_bytes`,
            sent as {"b64": ...} as TF Serving's REST API requires).

    Returns:
        A dict ready for `json.dumps`.
    """
    if (faces is None) == (encoded_images is None):
        raise ValueError("Pass exactly one of `faces` or `encoded_images`.")
    if faces is not None:
        faces = np.asarray(faces, dtype=np.float32)
        if faces.ndim != 4 or faces.shape[-1] != 3:
            raise ValueError(f"`faces` must be [N, S, S, 3]. Received shape {faces.shape}")
        return {"signature_name": "serving_default", "instances": faces.tolist()}
    return {
        "signature_name": "serve_bytes",
        "instances": [{"b64": base64.b64encode(data).decode("ascii")} for data in encoded_images],
    }


def rest_url(host, model_name, version=None, port=8501):
    """http://host:port/v1/models/<name>[/versions/<v>]:predict"""
    version_part = f"/versions/{version}" if version is not None else ""
    return f"http://{host}:{port}/v1/models/{model_name}{version_part}:predict"


def rest_predict(host, model_name, faces=None, encoded_images=None, version=None, port=8501, timeout=30.0):
    """Calls TF Serving's REST API and returns the embeddings [N, d]."""
    body = json.dumps(rest_payload(faces, encoded_images)).encode("utf-8")
    request = urllib.request.Request(
        rest_url(host, model_name, version, port), data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        predictions = json.loads(response.read())["predictions"]
    return np.asarray(predictions, dtype=np.float32)


def grpc_request(model_name, faces=None, encoded_images=None, version=None):
    """A `tensorflow_serving.apis.predict_pb2.PredictRequest` for the embedding model."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    if (faces is None) == (encoded_images is None):
        raise ValueError("Pass exactly one of `faces` or `encoded_images`.")
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    if version is not None:
        request.model_spec.version.value = int(version)
    if faces is not None:
        request.model_spec.signature_name = "serving_default"
        request.inputs["faces"].CopyFrom(tf.make_tensor_proto(np.asarray(faces, dtype=np.float32)))
    else:
        request.model_spec.signature_name = "serve_bytes"
        request.inputs["images"].CopyFrom(tf.make_tensor_proto(list(encoded_images), dtype=tf.string))
    request.output_filter.append("embeddings")
    return request


def grpc_predict(target, model_name, faces=None, encoded_images=None, version=None, timeout=30.0):
    """Calls TF Serving over gRPC (target "host:8500") and returns the embeddings."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(grpc_request(model_name, faces, encoded_images, version), timeout)
    return tf.make_ndarray(response.outputs["embeddings"])
