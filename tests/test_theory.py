import keras
import numpy as np
import pytest

from tf_wsoftmax import theory
from tf_wsoftmax.layers import NormalizedDense


@pytest.mark.parametrize("k", [2, 3, 4, 10, 100])
def test_simplex_is_equiangular_unit_and_minimal(k):
    w = theory.simplex_weights(k)
    assert w.shape == (k - 1, k) and theory.min_units(k) == k - 1
    gram = w.T @ w
    np.testing.assert_allclose(np.diag(gram), 1.0, atol=1e-12)
    off = gram[~np.eye(k, dtype=bool)]
    np.testing.assert_allclose(off, -1.0 / (k - 1), atol=1e-12)
    # The bound is tight: K equiangular unit vectors have a rank K-1 Gram
    # matrix, so they need K-1 dimensions and no fewer.
    assert np.linalg.matrix_rank(gram, tol=1e-9) == k - 1
    np.testing.assert_allclose(w.sum(axis=1), 0.0, atol=1e-12)  # centred


def test_equiangular_gram_has_rank_k_minus_1_in_closed_form():
    """Independent of the construction: G = K/(K-1) I - 1/(K-1) 11^T has a
    zero eigenvalue (eigenvector 1) and K-1 eigenvalues K/(K-1)."""
    for k in (3, 7, 12):
        gram = k / (k - 1) * np.eye(k) - np.ones((k, k)) / (k - 1)
        eig = np.sort(np.linalg.eigvalsh(gram))
        np.testing.assert_allclose(eig[0], 0.0, atol=1e-12)
        np.testing.assert_allclose(eig[1:], k / (k - 1), atol=1e-12)


def test_larger_dim_embeds_the_simplex():
    w = theory.simplex_weights(5, dim=12)
    assert w.shape == (12, 5)
    np.testing.assert_allclose(w[4:], 0.0)
    np.testing.assert_allclose(w.T @ w, theory.simplex_weights(5).T @ theory.simplex_weights(5), atol=1e-12)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: theory.min_units(1), "num_classes"),
        (lambda: theory.min_units(2.0), "num_classes"),
        (lambda: theory.simplex_weights(10, dim=8), "rank K - 1"),
        (lambda: theory.simplex_weights(1), "num_classes"),
    ],
)
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_fixed_simplex_head(rng):
    head = NormalizedDense(4, alpha=1.0, fixed_simplex=True)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5), head])
    np.testing.assert_allclose(head.kernel.numpy(), theory.simplex_weights(4, dim=5), atol=1e-7)
    assert head.trainable_weights == []
    assert sorted(w.name for w in head.non_trainable_weights) == ["alpha", "iterations", "kernel"]
    assert NormalizedDense.from_config(head.get_config()).fixed_simplex
    x = rng.normal(size=(8, 6)).astype("float32")
    model.compile("sgd", loss=__import__("tf_wsoftmax").WSoftmaxLoss(head))
    model.fit(x, rng.integers(0, 4, 8), verbose=0)
    np.testing.assert_allclose(head.kernel.numpy(), theory.simplex_weights(4, dim=5), atol=1e-7)
    with pytest.raises(ValueError, match="num_classes - 1"):
        NormalizedDense(10, fixed_simplex=True)(np.ones((2, 3), "float32"))
