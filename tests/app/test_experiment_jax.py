"""Every experiment command on Keras-JAX, with TensorFlow unimportable, writes what TensorFlow's runs write."""

import json
import os
import subprocess
import sys

import keras
import pytest

from tests.app.no_tensorflow import environment
from tf_wsoftmax.app.experiment import TrainConfig
from tf_wsoftmax.app.experiment import run_training

SCRIPT = os.path.join(os.path.dirname(__file__), "no_tensorflow.py")
TINY = ["--backend", "jax", "--dataset", "digits", "--backbone", "tiny", "--epochs", "2", "--quiet"]
FOUR = ["--classes", "4"]  # class-sweep sets the classes of its runs itself (--classes-list) and refuses --classes
COMMANDS = {
    "train": FOUR + ["--loss", "wsoftmax"],
    "units-sweep": FOUR + ["--feature-dims", "3", "--alphas", "1.0"],
    "alpha-sweep": FOUR + ["--alphas", "1.0"],
    "class-sweep": ["--classes-list", "3"],
    "features-2d": FOUR,
    "gradient-modes": FOUR + ["--alphas", "1", "--seeds", "0", "--groups", "stop"],
}
FILES = {
    "units-sweep": ["summary.json", "units_sweep.png"],
    "alpha-sweep": ["summary.json", "alpha_angles.png"],
    "class-sweep": ["summary.json"],
    "features-2d": ["features_2d.png"],
    "gradient-modes": ["summary.json", "summary.md", "angles.png"],
}


def run_without_tensorflow(args, cwd):
    return subprocess.run([sys.executable, SCRIPT, *args], cwd=cwd, env=environment(), capture_output=True,
                          text=True, timeout=900)


def key_paths(tree, prefix=""):
    """The nested keys of a metrics dict (values differ between runs; the keys must not)."""
    if not isinstance(tree, dict):
        return {prefix}
    return {path for key, value in tree.items() for path in key_paths(value, f"{prefix}/{key}")}


@pytest.mark.slow
@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="compares with TensorFlow's runner in-process")
def test_every_experiment_command_runs_on_jax_without_tensorflow(tmp_path):
    commands = [[command, *TINY, *extra, "--out", os.path.join(tmp_path, command)] for command, extra in COMMANDS.items()]
    with open(os.path.join(tmp_path, "commands.json"), "w") as f:
        json.dump(commands, f)
    result = run_without_tensorflow(["--each", os.path.join(tmp_path, "commands.json")], tmp_path)  # one start-up
    assert result.returncode == 0, result.stderr[-3000:]
    for command in COMMANDS:
        out = os.path.join(tmp_path, command)
        for name in FILES.get(command, ["metrics.json", "model.keras", "history.jsonl", "ckpt/fit.weights.h5"]):
            assert os.path.exists(os.path.join(out, name)), f"{command}: no {name}"

    # `train` on JAX writes the metrics TensorFlow's runner writes, with the same keys all the way down.
    with open(os.path.join(tmp_path, "train", "metrics.json")) as f:
        jax_metrics = json.load(f)
    tf_metrics = run_training(
        TrainConfig(dataset="digits", classes=4, backbone="tiny", epochs=2, loss="wsoftmax"), os.path.join(tmp_path, "tf"), verbose=False
    )
    assert key_paths(jax_metrics) == key_paths(tf_metrics)
    assert jax_metrics["backend"] == "jax" and tf_metrics["backend"] == "tensorflow"
    assert "JAX" in jax_metrics["hardware"]
    assert jax_metrics["steps"] == tf_metrics["steps"]
    assert jax_metrics["test_accuracy"] > 0.6 and tf_metrics["test_accuracy"] > 0.6  # 4 classes: chance is 0.25
    with open(os.path.join(tmp_path, "train", "history.jsonl")) as f:
        jax_history = [json.loads(line) for line in f]
    with open(os.path.join(tmp_path, "tf", "history.jsonl")) as f:
        tf_history = [json.loads(line) for line in f]
    assert [set(h) for h in jax_history] == [set(h) for h in tf_history]

    # TensorFlow refuses the JAX run's checkpoint with a clear error (resuming on JAX: test_fit_loop.py).
    try:
        run_training(TrainConfig(dataset="digits", classes=4, backbone="tiny", epochs=3, loss="wsoftmax"),
                     os.path.join(tmp_path, "train"), verbose=False)
    except ValueError as error:
        assert "non-TensorFlow backend" in str(error)
    else:
        raise AssertionError("TensorFlow resumed a JAX checkpoint")
