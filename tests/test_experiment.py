"""The training runner, its metrics file, resume, sweeps and the CLI."""

import json
import os

import numpy as np
import pytest

from tf_wsoftmax import cli
from tf_wsoftmax.experiment import TrainConfig
from tf_wsoftmax.experiment import run_training
from tf_wsoftmax.experiment import sweeps

METRIC_KEYS = {
    "test_accuracy", "train_accuracy", "mean_angle_test", "mean_angle_train", "fc_params",
    "config", "angles_test", "num_classes", "steps", "hardware", "data_source",
}


def test_short_digits_run_writes_metrics_and_resumes(tmp_path):
    out = str(tmp_path / "run")
    config = TrainConfig(dataset="digits", loss="wsoftmax", alpha=1.0, units=9, epochs=2, pretrain_epochs=1)
    metrics = run_training(config, out, verbose=False)
    assert METRIC_KEYS <= set(metrics)
    with open(os.path.join(out, "metrics.json")) as f:
        on_disk = json.load(f)
    assert on_disk["config"]["alpha"] == 1.0 and on_disk["config"]["pretrain_epochs"] == 1
    assert metrics["test_accuracy"] > 0.8  # far above chance (0.1) after 2 epochs
    assert 0 <= metrics["mean_angle_test"] <= 180 and len(metrics["angles_test"]["per_class"]) == 10
    assert metrics["fc_params"] == 256 * 9 + 9 + 9 * 10
    steps_per_epoch = int(np.ceil(1437 / 50))
    assert metrics["steps"] == 2 * steps_per_epoch
    # Asking for more epochs continues from the checkpoint instead of starting over.
    more = run_training(TrainConfig(**{**on_disk["config"], "epochs": 3}), out, verbose=False)
    assert more["steps"] == 3 * steps_per_epoch
    with open(os.path.join(out, "history.jsonl")) as f:
        assert [json.loads(line)["epoch"] for line in f] == [1, 2, 3]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(loss="triplet"), "Unknown loss"),
        (dict(dataset="imagenet"), "Unknown dataset"),
        (dict(loss="softmax", pretrain_epochs=1), "wsoftmax' only"),
        (dict(alpha=-1.0), "alpha"),
        (dict(epochs=2, pretrain_epochs=3), "pretrain_epochs"),
    ],
)
def test_bad_configs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_units_sweep_writes_table_and_figure(tmp_path):
    base = TrainConfig(dataset="digits", epochs=1)
    records = sweeps.units_sweep(base, [2, 9], alphas=(1.0,), out_dir=str(tmp_path))
    assert [(r["units"], r["loss"]) for r in records] == [
        (2, "softmax"), (2, "wsoftmax_a1"), (9, "softmax"), (9, "wsoftmax_a1")
    ]
    assert records[2]["fc_params"] > records[0]["fc_params"]
    assert os.path.getsize(tmp_path / "units_sweep.png") > 1000
    # A second call reads the finished runs back instead of training again.
    again = sweeps.units_sweep(base, [2, 9], alphas=(1.0,), out_dir=str(tmp_path))
    assert again == records


def test_cli_train_and_errors(tmp_path, capsys):
    out = str(tmp_path / "cli")
    assert cli.main(["train", "--dataset", "digits", "--loss", "cosface", "--epochs", "1", "--quiet", "--out", out]) == 0
    assert "test_accuracy=" in capsys.readouterr().out
    assert os.path.exists(os.path.join(out, "metrics.json"))
    code = cli.main(["train", "--dataset", "cifar10", "--data-dir", str(tmp_path / "none"), "--no-download",
                     "--epochs", "1", "--out", str(tmp_path / "x")])
    assert code == 2
    assert "Could not load dataset 'cifar10'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "--loss", "triplet", "--out", out])
    with pytest.raises(SystemExit):
        cli.main(["train", "--dataset", "imagenet", "--out", out])
