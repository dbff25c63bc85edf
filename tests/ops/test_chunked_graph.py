"""What a training step of each head computes, read off its traced TensorFlow graph.

The objective's gradient graph (`compute_objective` through the registry's layers) is traced,
not run: its (B, d) x (d, K)-sized products are counted by their flops (a chunk of b rows
counts b / B of a product, so the count does not depend on the chunking), and its tensors are
measured: with the chunk budget set to a quarter of the batch's logits, no tensor holds as many
values as the (B, K) logits.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_wsoftmax import declarations
from tf_wsoftmax.layers import NormalizedDense
from tf_wsoftmax.losses import LOSSES
from tf_wsoftmax.losses import build_loss
from tf_wsoftmax.losses import compute_objective

BATCH, DIM, CLASSES = 16, 4, 32


def gradient_graph(head, feature_loss=None):
    """The traced graph of d(objective)/d(features, kernel) for `head` (built here)."""
    head.build((None, DIM))
    if feature_loss is not None:
        feature_loss.build((None, DIM))

    def step(features, labels):
        with tf.GradientTape() as tape:
            tape.watch(features)
            loss = compute_objective(head, features, labels, feature_loss=feature_loss)["loss"]
        return tape.gradient(loss, [features, head.kernel])

    return tf.function(step).get_concrete_function(
        tf.TensorSpec((BATCH, DIM)), tf.TensorSpec((BATCH,), tf.int32)
    ).graph


def products(graph):
    """Sum of the graph's matmul flops in units of one (B, d) x (d, K) product."""
    total = 0
    for op in graph.get_operations():
        if op.type in ("MatMul", "BatchMatMulV2"):
            a, b = (t.shape for t in op.inputs)
            rows = a[-1] if op.get_attr("transpose_a") else a[0]
            inner = a[0] if op.get_attr("transpose_a") else a[-1]
            cols = b[0] if op.get_attr("transpose_b") else b[-1]
            total += rows * inner * cols
    return total / (BATCH * DIM * CLASSES)


EXPECTED_PRODUCTS = {
    "softmax": 3,
    "normalized_softmax": 3,
    "wsoftmax": 4,  # "stop": the cosines W_y . W_j forward, no backward through them
    "lsoftmax": 3,
    "sphereface": 3,
    "cosface": 3,
    "arcface": 3,
    "center": 3,
    "contrastive_center": 3,
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_each_head_pays_its_products_and_no_more(name):
    """3 for softmax, normalised softmax, CosFace, ArcFace, L-/A-Softmax (and the centre losses'
    softmax head); 4 for W-Softmax "stop", 6 for "full"."""
    assert set(EXPECTED_PRODUCTS) == set(LOSSES)
    head, feature_loss = build_loss(name, CLASSES)
    assert products(gradient_graph(head, feature_loss)) == pytest.approx(EXPECTED_PRODUCTS[name])
    if name == "wsoftmax":
        full, _ = build_loss(name, CLASSES, bias_gradient="full")
        assert products(gradient_graph(full)) == pytest.approx(6)


def test_alpha_zero_for_good_skips_the_cosines_and_a_warm_up_does_not():
    """Decided when the head is made: alpha 0 is normalised softmax (3 products); a head whose
    alpha is 0 only during its warm-up is W-Softmax and pays the cosine product (4)."""
    assert products(gradient_graph(NormalizedDense(CLASSES, alpha=0.0))) == pytest.approx(3)
    assert products(gradient_graph(NormalizedDense(CLASSES, alpha=1.0, alpha_warmup_steps=100))) == pytest.approx(4)


@pytest.mark.parametrize("name,params", [
    ("softmax", {}), ("normalized_softmax", {}), ("wsoftmax", {}), ("wsoftmax", {"bias_gradient": "full"}),
    ("cosface", {}), ("arcface", {}), ("lsoftmax", {}), ("sphereface", {}),
])
def test_no_tensor_of_the_batch_by_classes_size(monkeypatch, name, params):
    """Chunks of a quarter of the batch: the largest tensor that is not (d, K) (the kernel and its
    gradient) holds half the (B, K) logits at most ("full" stacks two (b, K) gradients)."""
    monkeypatch.setattr(declarations, "CHUNK_LOGITS", BATCH * CLASSES // 4)
    head, _ = build_loss(name, CLASSES, **params)
    graph = gradient_graph(head)
    sizes = [
        out.shape.num_elements() or 0
        for op in graph.get_operations() for out in op.outputs
        if out.shape.rank is not None and tuple(out.shape) not in ((DIM, CLASSES), (CLASSES, DIM))
    ]
    assert max(sizes) <= BATCH * CLASSES // 2
    assert products(graph) == pytest.approx(6 if params else EXPECTED_PRODUCTS[name])


def test_chunked_and_whole_batch_objectives_agree(rng, monkeypatch):
    """The same objective and gradients whatever the chunking (float64: reordered sums only)."""
    x = rng.normal(size=(BATCH, DIM))
    y = rng.integers(0, CLASSES, BATCH).astype("int32")
    results = []
    for budget in (BATCH * CLASSES, BATCH * CLASSES // 4, 1):
        monkeypatch.setattr(declarations, "CHUNK_LOGITS", budget)
        keras.utils.set_random_seed(0)
        head = NormalizedDense(CLASSES, alpha=1.0, bias_gradient="full", dtype="float64")
        head.build((None, DIM))
        features = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(features)
            loss = compute_objective(head, features, y)["loss"]
        results.append([loss.numpy()] + [g.numpy() for g in tape.gradient(loss, [features, head.kernel])])
    for other in results[1:]:
        for a, b in zip(other, results[0]):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
