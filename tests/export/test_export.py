import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import helpers
from tf_wsoftmax.losses import WSoftmaxLoss


def test_savedmodel_serving_signature_has_no_labels(tmp_path, rng):
    x, y = helpers.toy_batch(rng)
    (_, head, model), _ = helpers.twin_models(alpha=1.0)
    model.compile(optimizer="sgd", loss=WSoftmaxLoss(head))
    model.fit(x, y, epochs=1, verbose=0)
    path = str(tmp_path / "export")
    model.export(path)

    loaded = tf.saved_model.load(path)
    signature = loaded.signatures["serving_default"]
    args, kwargs = signature.structured_input_signature
    assert args == ()
    assert len(kwargs) == 1, kwargs  # the images only, no label input
    (spec,) = kwargs.values()
    assert spec.shape.as_list() == [None, 6]
    (output,) = signature(**{next(iter(kwargs)): tf.constant(x)}).values()
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(output.numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(loaded.serve(x).numpy(), expected, atol=1e-5)
    # Test-time logits: the original normalised W, not the alpha-biased ones.
    np.testing.assert_allclose(expected, head(model.layers[1](x)).numpy(), atol=1e-5)


def test_saved_model_cli_shows_the_signature(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)])
    from tf_wsoftmax.layers import NormalizedDense

    model.add(NormalizedDense(2, alpha=1.0))
    path = str(tmp_path / "export")
    model.export(path)
    cli = [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
    out = subprocess.run(
        cli + ["show", "--dir", path, "--tag_set", "serve", "--signature_def", "serving_default"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "inputs" in out and "(-1, 3)" in out and "(-1, 2)" in out
    assert "label" not in out.lower()


@pytest.mark.parametrize("name", ["../../escape", "..", ".hidden", "a/b", "", "/abs"])
def test_a_model_name_cannot_leave_the_export_folder(tmp_path, name):
    from tf_wsoftmax.export.serving import serving_path

    with pytest.raises(ValueError, match="one path component"):
        serving_path(str(tmp_path / "out"), name, 1)
    assert serving_path(str(tmp_path / "out"), "faces-v2.1_b", 3) == str(tmp_path / "out" / "faces-v2.1_b" / "3")
