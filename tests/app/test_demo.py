"""The digits demo: its softmax phase follows --epochs, it prints each epoch, and its table has a key."""

import keras
import numpy as np
import pytest

from tf_wsoftmax.app.demo import ANGLE_KEY
from tf_wsoftmax.app.demo import DemoConfig
from tf_wsoftmax.app.demo import EpochLog
from tf_wsoftmax.app.demo import format_results


@pytest.mark.parametrize("epochs, softmax_epochs", [(20, 5), (8, 2), (7, 1), (2, 1), (1, 0)])
def test_the_softmax_phase_is_a_quarter_of_the_epochs_by_default(epochs, softmax_epochs):
    """As `train` does: max(1, epochs // 4) for 2 epochs or more, none for 1."""
    assert DemoConfig(epochs=epochs).softmax_epochs == softmax_epochs
    assert DemoConfig(epochs=epochs, pretrain_epochs=0).softmax_epochs == 0


@pytest.mark.parametrize("settings, match", [
    (dict(epochs=2, pretrain_epochs=3), r"`pretrain_epochs` must be in \[0, epochs=2\]. Received: pretrain_epochs=3"),
    (dict(epochs=4, pretrain_epochs=-1), "pretrain_epochs"),
    (dict(epochs=0), "`epochs` must be >= 1"),
    (dict(alpha=-1.0), "`alpha` must be >= 0"),
])
def test_explicit_settings_are_still_checked(settings, match):
    with pytest.raises(ValueError, match=match):
        DemoConfig(**settings)


def test_one_line_per_epoch_with_the_logged_loss_and_accuracy():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)).astype("float32"), rng.integers(0, 2, size=40)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    lines = []
    history = model.fit(x, y, epochs=3, batch_size=20, verbose=0, callbacks=[EpochLog("wsoftmax", 3, 1, lines.append)])
    assert len(lines) == 3
    for epoch, line in enumerate(lines):
        phase = "softmax phase" if epoch == 0 else "W-Softmax"
        assert line == (f"wsoftmax epoch {epoch + 1}/3 ({phase}): loss {history.history['loss'][epoch]:.4f}, "
                        f"train accuracy {history.history['accuracy'][epoch]:.4f}")


def test_the_table_has_a_key_to_its_angle_columns():
    results = [dict(loss=name, test_accuracy=0.9, train_accuracy=0.95, mean_angle_test=20.0, mean_angle_train=18.0,
                    seconds=3.0) for name in ("softmax", "wsoftmax")]
    lines = format_results(results, DemoConfig(epochs=2)).splitlines()
    assert "after 1 softmax epochs" in lines[0] and lines[-2].startswith("| wsoftmax |")
    assert lines[-1] == ANGLE_KEY
    assert "Eq. 14" in ANGLE_KEY and "degrees" in ANGLE_KEY and "lower means tighter classes" in ANGLE_KEY
