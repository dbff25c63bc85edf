"""Heads and losses through `compile` / `fit` and `.keras` files, on every Keras backend."""

import keras
import numpy as np
import pytest

from tests import reference
from tf_wsoftmax.layers import ArcFaceDense
from tf_wsoftmax.layers import CosFaceDense
from tf_wsoftmax.layers import NormalizedDense
from tf_wsoftmax.losses import LOSSES
from tf_wsoftmax.losses import MarginLoss
from tf_wsoftmax.losses import WSoftmaxLoss
from tf_wsoftmax.losses import build_loss
from tf_wsoftmax.training import MarginClassifier


def clusters(rng, n=96, dim=4, classes=3):
    """Three well separated Gaussian clusters: a problem every loss must learn."""
    means = 3.0 * np.eye(classes, dim)
    y = np.arange(n) % classes
    x = means[y] + 0.5 * rng.normal(size=(n, dim))
    return x.astype("float32"), y.astype("int32")


LOSS_CASES = [(name, {}) for name in LOSSES] + [("wsoftmax", {"bias_gradient": "full"})]


@pytest.mark.parametrize("name,params", LOSS_CASES, ids=[n + ("_full" if p else "") for n, p in LOSS_CASES])
def test_every_loss_trains_with_fit_and_round_trips_through_a_keras_file(rng, tmp_path, name, params):
    x, y = clusters(rng)
    head, feature_loss = build_loss(name, 3, **params)
    backbone = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.PReLU(), keras.layers.Dense(4)])
    model = MarginClassifier(backbone, head, feature_loss)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), metrics=["accuracy"])
    history = model.fit(x, y, batch_size=16, epochs=8, verbose=0, shuffle=False).history
    assert np.isfinite(history["loss"]).all()
    assert history["loss"][-1] < history["loss"][0]
    assert history["accuracy"][-1] > 0.9
    if feature_loss is not None:  # the centres moved (updated inside the train step)
        assert np.abs(np.asarray(feature_loss.centers)).sum() > 0
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(np.asarray(loaded.predict(x, verbose=0)), np.asarray(model.predict(x, verbose=0)), atol=1e-6)
    if feature_loss is not None:
        np.testing.assert_array_equal(np.asarray(loaded.feature_loss.centers), np.asarray(feature_loss.centers))


def _single_step_model(head, w):
    """features -> head, with the head's kernel set to `w` (no backbone, so features are the inputs)."""
    model = keras.Sequential([keras.Input((w.shape[0],)), head])
    head.kernel.assign(w.astype("float32"))
    return model


REFERENCE_HEADS = {
    "wsoftmax_stop": (
        lambda: NormalizedDense(5, alpha=1.0, bias_gradient="stop"),
        WSoftmaxLoss,
        lambda x, w, y, frozen: reference.wsoftmax_loss(x, w, y, 1.0, frozen),
    ),
    "wsoftmax_full": (
        lambda: NormalizedDense(5, alpha=1.0, bias_gradient="full"),
        WSoftmaxLoss,
        lambda x, w, y, frozen: reference.wsoftmax_loss(x, w, y, 1.0),
    ),
    "cosface": (
        lambda: CosFaceDense(5, scale=8.0, margin=0.35),
        MarginLoss,
        lambda x, w, y, frozen: reference.softmax_cross_entropy(reference.cosface_logits(x, w, y, 8.0, 0.35), y).sum(),
    ),
    "arcface": (
        lambda: ArcFaceDense(5, scale=8.0, margin=0.5),
        MarginLoss,
        lambda x, w, y, frozen: reference.softmax_cross_entropy(reference.arcface_logits(x, w, y, 8.0, 0.5), y).sum(),
    ),
}


@pytest.mark.parametrize("name", sorted(REFERENCE_HEADS))
def test_one_fit_step_is_the_reference_loss_and_gradient_step(rng, name):
    """`compile(loss=...)` + one full-batch SGD step: the reported loss is the float64
    reference's mean and the kernel moves by -lr times its finite-difference gradient
    ("stop": the gradient with the bias and norm frozen)."""
    make_head, loss_class, reference_sum = REFERENCE_HEADS[name]
    x = rng.normal(size=(8, 4)).astype("float32")
    w = rng.normal(size=(4, 5))
    y = rng.integers(0, 5, size=8).astype("int32")
    head = make_head()
    model = _single_step_model(head, w)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5), loss=loss_class(head))
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False).history
    x64, w64 = x.astype("float64"), w.astype("float32").astype("float64")
    np.testing.assert_allclose(history["loss"][0], reference_sum(x64, w64, y, w64) / 8, rtol=1e-5)
    gradient = reference.central_differences(lambda v: reference_sum(x64, v, y, w64) / 8, w64)
    np.testing.assert_allclose(np.asarray(head.kernel), w64 - 0.5 * gradient, rtol=1e-4, atol=1e-5)


def test_alpha_schedule_and_state_survive_a_keras_file(rng, tmp_path):
    x, y = clusters(rng, n=32)
    head = NormalizedDense(3, alpha=1.5, alpha_warmup_steps=2, name="head")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4), head])
    model.compile("sgd", loss=WSoftmaxLoss(head))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # 2 steps: still softmax
    assert int(np.asarray(head.iterations)) == 2
    assert float(np.asarray(head.current_alpha())) == 1.5  # the next step is W-Softmax's
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    loaded_head = loaded.get_layer("head")
    assert int(np.asarray(loaded_head.iterations)) == 2 and loaded_head.alpha == 1.5
    assert loaded_head.get_config() == head.get_config()
    loaded.loss.bind(loaded)  # Keras rebuilds the loss without the model: bind it to the head
    loaded.fit(x, y, batch_size=16, epochs=1, verbose=0, validation_data=(x, y))
    assert int(np.asarray(loaded_head.iterations)) == 4  # 2 more training steps; validation counts none


def test_alpha_assigned_between_fits_takes_effect_in_the_compiled_step(rng):
    x = rng.normal(size=(8, 4)).astype("float32")
    y = rng.integers(0, 5, size=8).astype("int32")
    w = rng.normal(size=(4, 5))
    head = NormalizedDense(5, alpha=1.0)  # made with alpha > 0: W-Softmax, whose alpha is state
    model = _single_step_model(head, w)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss=WSoftmaxLoss(head))
    losses = []
    for alpha in (0.0, 2.0):
        head.alpha = alpha
        losses.append(model.fit(x, y, batch_size=8, epochs=1, verbose=0).history["loss"][0])
    w64 = w.astype("float32").astype("float64")
    np.testing.assert_allclose(losses, [reference.wsoftmax_loss(x, w64, y, a) / 8 for a in (0.0, 2.0)], rtol=1e-5)
