"""Every head and centre layer through the shared harness (`layer_harness`), on each Keras backend."""

import functools

import keras
import pytest

from tests import reference
from tests.backends import layer_harness
from tf_wsoftmax.layers import ArcFaceDense
from tf_wsoftmax.layers import CenterLossLayer
from tf_wsoftmax.layers import ContrastiveCenterLossLayer
from tf_wsoftmax.layers import CosFaceDense
from tf_wsoftmax.layers import LSoftmaxDense
from tf_wsoftmax.layers import NormalizedDense
from tf_wsoftmax.layers import SphereFaceDense

HEADS = {
    "wsoftmax": (lambda: NormalizedDense(4, alpha=1.0, alpha_warmup_steps=1), "wsoftmax"),
    "wsoftmax_full": (lambda: NormalizedDense(4, alpha=0.5, bias_gradient="full"), "wsoftmax"),
    "lsoftmax": (lambda: LSoftmaxDense(4, margin=3, lambda_base=10.0, lambda_gamma=0.1, lambda_power=1.0), "lsoftmax"),
    "sphereface": (lambda: SphereFaceDense(4, margin=2, lambda_base=0.0, lambda_min=0.0), "sphereface"),
    "cosface": (lambda: CosFaceDense(4, scale=16.0, margin=0.2), "cosface"),
    "arcface": (lambda: ArcFaceDense(4, scale=16.0, margin=0.3), "arcface"),
}

CENTERS = {
    "center": (lambda: CenterLossLayer(4, weight=0.5), reference.center_loss),
    "contrastive_center": (
        lambda: ContrastiveCenterLossLayer(4, weight=0.5, delta=0.5, centers_initializer=keras.initializers.RandomNormal(seed=1)),
        functools.partial(reference.contrastive_center_loss, delta=0.5),
    ),
}


@pytest.mark.parametrize("name", list(HEADS))
def test_head(rng, tmp_path, name):
    make, loss = HEADS[name]
    layer_harness.run_head_test(make, loss, rng, tmp_path)


@pytest.mark.parametrize("name", list(CENTERS))
def test_centre_layer(rng, tmp_path, name):
    make, reference_loss = CENTERS[name]
    layer_harness.run_centers_test(make, name, rng, tmp_path, reference_loss)
