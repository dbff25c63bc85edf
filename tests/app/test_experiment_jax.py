"""The commands that train, on Keras-JAX with TensorFlow unimportable, write what TensorFlow's runs write.

`train` (compared key for key with TensorFlow's run), `features-2d` (a sweep: four runs, their
model.keras files read back, a figure), and `train-faces` on an identity folder with a `.bin` set
evaluated during training, then `verify` and `lfw` on its embedder. The other sweeps run the same
runner (tests/app/test_experiment.py); `experiments/gpu_paper_tables.sh` runs here the same way
(tests/app/test_paper_tables.py).
"""

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
TINY = ["--backend", "jax", "--dataset", "digits", "--classes", "4", "--backbone", "tiny", "--epochs", "1", "--quiet"]
COMMANDS = {
    "train": ["--loss", "wsoftmax", "--epochs", "2"],
    "features-2d": [],
}
FILES = {"features-2d": ["features_2d.png", "summary.json"]}
RUN_FILES = ["metrics.json", "model.keras", "history.jsonl", "checkpoint.zip", "config.json", "timing.json"]


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
def test_the_commands_that_train_run_on_jax_without_tensorflow(tmp_path):
    from tests.app.test_faces import make_identities
    from tests.app.test_faces import write_pairs
    from tf_wsoftmax.data.verification_bin import write_verification_bin

    commands = [[command, *TINY, *extra, "--out", os.path.join(tmp_path, command)] for command, extra in COMMANDS.items()]
    make_identities(tmp_path / "faces", identities=4, per_identity=8)
    write_pairs(tmp_path / "pairs.txt", per_identity=8)
    images = sorted((tmp_path / "faces").rglob("*.png"))
    pairs = [(images[0], images[1], True), (images[0], images[9], False)] * 10
    write_verification_bin(tmp_path / "val.bin", [p.read_bytes() for a, b, _ in pairs for p in (a, b)],
                           [same for _, _, same in pairs])
    faces = os.path.join(tmp_path, "faces_run")
    commands += [
        ["train-faces", "--backend", "jax", "--data", str(tmp_path / "faces"), "--out", faces, "--backbone", "small",
         "--image-size", "32", "--feature-dim", "8", "--batch-size", "8", "--steps", "6", "--learning-rate", "0.05",
         "--bin", str(tmp_path / "val.bin"), "--evaluate-every", "3", "--quiet"],
        ["verify", "--model", os.path.join(faces, "embedder.keras"), "--bin", str(tmp_path / "val.bin")],
        ["lfw", "--pairs", str(tmp_path / "pairs.txt"), "--dir", str(tmp_path / "faces"),
         "--model", os.path.join(faces, "embedder.keras")],
    ]
    with open(os.path.join(tmp_path, "commands.json"), "w") as f:
        json.dump(commands, f)
    result = run_without_tensorflow(["--each", os.path.join(tmp_path, "commands.json")], tmp_path)  # one start-up
    assert result.returncode == 0, result.stderr[-3000:]
    for command in COMMANDS:
        out = os.path.join(tmp_path, command)
        for name in FILES.get(command, RUN_FILES):
            assert os.path.exists(os.path.join(out, name)), f"{command}: no {name}"
    with open(os.path.join(faces, "metrics.json")) as f:
        face_metrics = json.load(f)
    assert face_metrics["steps"] == 6 and face_metrics["config"]["backend"] == "jax"
    assert [row["step"] for row in face_metrics["verification"]["history"]] == [3, 6]
    assert "val: accuracy" in result.stdout and "| val |" in result.stdout and "LFW accuracy" in result.stdout

    # `train` on JAX writes the metrics TensorFlow's runner writes, with the same keys all the way down.
    with open(os.path.join(tmp_path, "train", "metrics.json")) as f:
        jax_metrics = json.load(f)
    tf_metrics = run_training(
        TrainConfig(dataset="digits", classes=4, backbone="tiny", epochs=2, loss="wsoftmax"), os.path.join(tmp_path, "tf"), verbose=False
    )
    tf_metrics.pop("call")  # this call's timing, not written to metrics.json
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

    # TensorFlow refuses the JAX run's folder, naming the backend (resuming on JAX: tests/backends/test_run.py).
    with pytest.raises(ValueError, match="backend: 'jax' -> 'tensorflow'"):
        run_training(TrainConfig(dataset="digits", classes=4, backbone="tiny", epochs=3, loss="wsoftmax"),
                     os.path.join(tmp_path, "train"), verbose=False)
