"""The training runner, its metrics file, resume, sweeps and the CLI."""

import dataclasses
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_wsoftmax.app import cli
from tf_wsoftmax.app.commands.experiments import train_config
from tf_wsoftmax.data import load_dataset
from tf_wsoftmax.app.experiment import TrainConfig
from tf_wsoftmax.app.experiment import run_training
from tf_wsoftmax.app.experiment import gradient_modes
from tf_wsoftmax.app.experiment import sweeps
from tf_wsoftmax.app.experiment.heads import build_head_and_feature_loss

METRIC_KEYS = {
    "test_accuracy", "train_accuracy", "mean_angle_test", "mean_angle_train", "fc_params",
    "config", "angles_test", "num_classes", "steps", "hardware", "data_source", "warnings", "model",
}

@pytest.mark.slow
def test_short_digits_run_writes_metrics_and_resumes(tmp_path):
    out = str(tmp_path / "run")
    config = TrainConfig(dataset="digits", loss="wsoftmax", loss_params={"alpha": 1.0}, feature_dim=9, epochs=2, pretrain_epochs=1)
    metrics = run_training(config, out, verbose=False)
    assert METRIC_KEYS <= set(metrics)
    with open(os.path.join(out, "metrics.json")) as f:
        on_disk = json.load(f)
    assert on_disk == {key: value for key, value in metrics.items() if key != "call"}
    assert on_disk["config"]["loss_params"]["alpha"] == 1.0 and on_disk["config"]["softmax_steps"] == 29
    assert metrics["test_accuracy"] > 0.8  # far above chance (0.1) after 2 epochs
    assert 0 <= metrics["mean_angle_test"] <= 180 and len(metrics["angles_test"]["per_class"]) == 10
    assert metrics["fc_params"] == 256 * 9 + 9 + 9 * 10
    steps_per_epoch = int(np.ceil(1437 / 50))
    assert metrics["steps"] == 2 * steps_per_epoch
    assert metrics["softmax_steps"] == steps_per_epoch  # Algorithm 1 inside the one run
    assert metrics["call"]["resumed_from_step"] is None and metrics["warnings"] == []
    # The saved classifier takes raw pixels (standardisation inside) and gives the test-time logits.
    data = load_dataset("digits")
    loaded = keras.models.load_model(os.path.join(out, metrics["model"]))
    accuracy = np.mean(np.argmax(loaded.predict(data.test[0].astype("float32"), verbose=0), -1) == data.test[1])
    np.testing.assert_allclose(accuracy, metrics["test_accuracy"], atol=1e-9)
    # Asking for more epochs continues from the checkpoint instead of starting over.
    more = run_training(dataclasses.replace(config, epochs=3), out, verbose=False)
    assert more["steps"] == 3 * steps_per_epoch and more["call"]["resumed_from_step"] == 2 * steps_per_epoch
    with open(os.path.join(out, "history.jsonl")) as f:
        assert [json.loads(line)["epoch"] for line in f] == [1, 2, 3]
    # A different run in the same folder is refused, naming what differs; --overwrite starts over.
    changes = ({"loss_params": {"alpha": 0.5}}, {"seed": 7}, {"batch_size": 32}, {"loss": "softmax", "loss_params": {}, "pretrain_epochs": None})
    for change in changes:
        with pytest.raises(ValueError, match=f"different config.*{next(iter(change))}"):
            run_training(dataclasses.replace(config, epochs=3, **change), out, verbose=False)
    fresh = run_training(dataclasses.replace(config, loss_params={"alpha": 0.5}), out, verbose=False, overwrite=True)
    assert fresh["call"]["resumed_from_step"] is None and fresh["steps"] == 2 * steps_per_epoch
    with open(os.path.join(out, "history.jsonl")) as f:
        assert [json.loads(line)["epoch"] for line in f] == [1, 2]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(loss="triplet"), "Unknown loss"),
        (dict(dataset="imagenet"), "Unknown dataset"),
        (dict(loss="softmax", pretrain_epochs=1), "wsoftmax' only"),
        (dict(loss_params={"alpha": -1.0}), "alpha"),
        (dict(epochs=2, pretrain_epochs=3), "pretrain_epochs"),
        (dict(loss_params={"bias_gradient": "approximate"}), "bias_gradient"),
        (dict(loss="cosface", loss_params={"fixed_simplex": True}), "`fixed_simplex` does not apply to loss 'cosface'"),
        (dict(loss="softmax", loss_params={"alpha": 1.0}), "`alpha` does not apply to loss 'softmax'"),
        (dict(loss_params={"alpha_warmup_steps": 10}), "pretrain_epochs"),
        (dict(loss="center", loss_params={"center_rate": 2.0}), "center_rate"),
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(learning_rate=0.0), "learning_rate"),
        (dict(momentum=1.0), "momentum"),
        (dict(weight_decay=-1e-4), "weight_decay"),
    ],
)
def test_bad_configs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_algorithm_1_is_the_default_of_wsoftmax_runs():
    assert TrainConfig(loss="wsoftmax", epochs=20).softmax_epochs == 5
    assert TrainConfig(loss="wsoftmax", epochs=3).softmax_epochs == 1
    assert TrainConfig(loss="wsoftmax", epochs=1).softmax_epochs == 0
    assert TrainConfig(loss="wsoftmax", epochs=20, pretrain_epochs=0).softmax_epochs == 0
    assert TrainConfig(loss="cosface", epochs=20).softmax_epochs == 0
    config = TrainConfig(loss="wsoftmax", loss_params={"alpha": 1.5, "bias_gradient": "full"})
    head, _ = build_head_and_feature_loss(config, 10, 40)
    assert (head.alpha, head.bias_gradient, head.alpha_warmup_steps) == (1.5, "full", 40)



def test_a_hyperparameter_added_after_runs_is_in_the_identity_only_off_its_default():
    """`sample_blocks` came after run folders were written: at its default (1, the draw those runs
    made) it is left out of the resolved config, so their `config.json` still matches; any other
    value is part of the run's identity."""
    default = TrainConfig(loss="wsoftmax", loss_params={"sample_rate": 0.5}).resolved(0)["loss_params"]
    assert "sample_blocks" not in default and default["sample_rate"] == 0.5
    typed = TrainConfig(loss="wsoftmax", loss_params={"sample_rate": 0.5, "sample_blocks": 1}).resolved(0)
    assert typed["loss_params"] == default
    blocked = TrainConfig(loss="wsoftmax", loss_params={"sample_rate": 0.5, "sample_blocks": 2}).resolved(0)
    assert blocked["loss_params"]["sample_blocks"] == 2

@pytest.mark.parametrize(
    "dataset,augment,expected",
    [
        ("mnist", False, dict(margin=4, lambda_base=1000.0, lambda_gamma=2.5e-5, lambda_power=35.0)),
        ("cifar10", False, dict(margin=2, lambda_base=1000.0, lambda_gamma=2e-5, lambda_power=45.0)),
        ("cifar10", True, dict(margin=2, lambda_base=1000.0, lambda_gamma=1e-5, lambda_power=45.0)),
    ],
)
def test_lsoftmax_schedule_follows_the_release_per_dataset(dataset, augment, expected):
    head, _ = build_head_and_feature_loss(TrainConfig(dataset=dataset, loss="lsoftmax", augment=augment), 10)
    assert {key: getattr(head, key) for key in expected} == expected
    overridden, _ = build_head_and_feature_loss(
        TrainConfig(dataset=dataset, loss="lsoftmax", loss_params={"multiplicative_margin": 3, "lambda_power": 10.0}), 10
    )
    assert overridden.margin == 3 and overridden.lambda_power == 10.0


@pytest.mark.parametrize("margin", [0, 2.7, 5])
def test_invalid_integer_margins_are_errors_not_rewritten(margin):
    for loss in ("lsoftmax", "sphereface"):
        with pytest.raises(ValueError, match="margin"):
            TrainConfig(loss=loss, loss_params={"multiplicative_margin": margin})


def test_every_loss_is_declared_once_in_the_registry_and_built_through_it():
    """The CLI, the experiment runner and the face pipeline all take the
    registry's names; each hyperparameter lands on its layer argument."""
    from tf_wsoftmax.losses import LOSSES, build_loss

    assert set(LOSSES) == set(cli_losses())
    head, centers = build_loss("center", 5, center_weight=0.2, center_rate=0.3)
    assert (centers.weight, centers.center_rate) == (0.2, 0.3)
    head, _ = build_loss("arcface", 5, angular_margin=0.2)
    assert (head.margin, head.scale) == (0.2, 64.0)
    head, _ = build_loss("lsoftmax", 5, multiplicative_margin=2)
    assert head.margin == 2
    with pytest.raises(ValueError, match="Unknown loss 'triplet'"):
        build_loss("triplet", 5)


def cli_losses():
    parser = cli.build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    return next(action.choices for action in train._actions if action.dest == "loss")

@pytest.mark.slow
def test_gradient_mode_sweep_writes_table_figure_and_refuses_a_changed_config(tmp_path):
    base = TrainConfig(dataset="digits", feature_dim=9, epochs=2, pretrain_epochs=1)
    records = gradient_modes.gradient_mode_sweep(base, alphas=(0.0, 1.0), seeds=(0,), out_dir=str(tmp_path))
    assert [r["row"] for r in records] == [
        "softmax (biased Dense)", "alpha 0 (normalised softmax)", "stop alpha 1", "full alpha 1",
        "fixed simplex alpha 0", "fixed simplex alpha 1",
    ]
    simplex = records[-1]
    # The simplex kernel is fixed: pairwise cosine -1/(K-1), unit mean 0.
    np.testing.assert_allclose(simplex["angles_test.weights_mean_pairwise_cosine"]["mean"], -1 / 9, atol=1e-6)
    np.testing.assert_allclose(simplex["angles_test.weights_mean_vector_norm"]["mean"], 0.0, atol=1e-6)
    assert all(len(r["per_class_test"]) == 10 for r in records)
    assert os.path.getsize(tmp_path / "angles.png") > 1000
    assert "| stop alpha 1 |" in (tmp_path / "summary.md").read_text()
    with pytest.raises(ValueError, match="different config.*learning_rate"):
        gradient_modes.gradient_mode_sweep(
            dataclasses.replace(base, learning_rate=0.02), alphas=(0.0, 1.0), seeds=(0,), out_dir=str(tmp_path)
        )

@pytest.mark.slow
def test_units_sweep_writes_table_and_figure(tmp_path):
    base = TrainConfig(dataset="digits", epochs=1)
    records = sweeps.units_sweep(base, [2, 9], alphas=(1.0,), out_dir=str(tmp_path))
    assert [(r["feature_dim"], r["loss"]) for r in records] == [
        (2, "softmax"), (2, "wsoftmax_a1"), (9, "softmax"), (9, "wsoftmax_a1")
    ]
    assert records[2]["fc_params"] > records[0]["fc_params"]
    assert os.path.getsize(tmp_path / "units_sweep.png") > 1000
    # A second call reads the finished runs back instead of training again.
    again = sweeps.units_sweep(base, [2, 9], alphas=(1.0,), out_dir=str(tmp_path))
    assert again == records

@pytest.mark.slow
def test_cli_train_and_errors(tmp_path, capsys):
    out = str(tmp_path / "cli")
    assert cli.main(["train", "--dataset", "digits", "--loss", "cosface", "--epochs", "1", "--quiet", "--out", out]) == 0
    assert "test_accuracy=" in capsys.readouterr().out
    assert os.path.exists(os.path.join(out, "metrics.json")) and os.path.exists(os.path.join(out, "model.keras"))
    assert cli.main(["train", "--dataset", "digits", "--loss", "cosface", "--epochs", "1", "--quiet", "--out", out]) == 0
    assert "resumed from step 29" in capsys.readouterr().out
    assert cli.main(["train", "--dataset", "digits", "--loss", "cosface", "--epochs", "1", "--seed", "7",
                     "--quiet", "--out", out]) == 2
    assert "seed: 0 -> 7" in capsys.readouterr().err
    # The trained classifier exports for TF Serving: raw pixels in, the model's logits out.
    serving = str(tmp_path / "serving")
    assert cli.main(["export", "--model", os.path.join(out, "model.keras"), "--out", serving, "--name", "digits"]) == 0
    assert "classifier" in capsys.readouterr().out
    signature = tf.saved_model.load(os.path.join(serving, "digits", "1")).signatures["serving_default"]
    images = load_dataset("digits").test[0][:5].astype("float32")
    outputs = signature(images=tf.constant(images))
    expected = keras.models.load_model(os.path.join(out, "model.keras")).predict(images, verbose=0)
    np.testing.assert_allclose(outputs["logits"].numpy(), expected, atol=1e-5)
    np.testing.assert_array_equal(outputs["classes"].numpy(), expected.argmax(-1))
    with pytest.raises(tf.errors.InvalidArgumentError, match="empty batch"):
        signature(images=tf.zeros((0, 8, 8, 1)))
    (tmp_path / "none").mkdir()  # an empty folder: every source is tried (a missing one is a usage error)
    code = cli.main(["train", "--dataset", "cifar10", "--data-dir", str(tmp_path / "none"), "--no-download",
                     "--epochs", "1", "--out", str(tmp_path / "x")])
    assert code == 2
    assert "Could not load dataset 'cifar10'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "--loss", "triplet", "--out", out])
    with pytest.raises(SystemExit):
        cli.main(["train", "--dataset", "imagenet", "--out", out])


def test_loss_flags_are_generated_from_the_registry_and_checked(tmp_path, capsys):
    out = str(tmp_path / "never")
    assert cli.main(["train", "--loss", "cosface", "--alpha", "1.0", "--out", out]) == 2
    assert "--alpha does not apply to --loss cosface (it is a flag of wsoftmax)" in capsys.readouterr().err
    assert cli.main(["train", "--loss", "lsoftmax", "--multiplicative-margin", "0", "--out", out]) == 2
    assert "margin" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # not an integer: argparse refuses it
        cli.main(["train", "--loss", "lsoftmax", "--multiplicative-margin", "2.7", "--out", out])
    args = cli.build_parser().parse_args(
        ["train", "--loss", "wsoftmax", "--alpha", "1.5", "--bias-gradient", "full", "--fixed-simplex", "--out", out]
    )
    assert train_config(args).loss_params == {"alpha": 1.5, "bias_gradient": "full", "fixed_simplex": True}
    assert not os.path.exists(out)


@pytest.mark.slow
def test_a_run_stuck_at_chance_is_reported(tmp_path, capsys):
    """A learning rate of 1e-7 leaves one epoch of digits near chance: the run
    says so in metrics.json and on stderr instead of exiting quietly."""
    out = str(tmp_path / "stuck")
    assert cli.main(["train", "--dataset", "digits", "--loss", "softmax", "--epochs", "1", "--learning-rate", "1e-7",
                     "--quiet", "--out", out]) == 0
    assert "warning: stuck at chance" in capsys.readouterr().err
    with open(os.path.join(out, "metrics.json")) as f:
        assert "stuck at chance" in json.load(f)["warnings"][0]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(learning_rate=0.0), "learning_rate"),
        (dict(momentum=-0.1), "momentum"),
        (dict(weight_decay=-1.0), "weight_decay"),
        (dict(loss_params={"alpha_warmup_steps": 5}), "pretrain_steps"),
        (dict(loss="arcface", loss_params={"alpha": 1.0}), "`alpha` does not apply to loss 'arcface'"),
    ],
)
def test_face_configs_share_the_training_checks(kwargs, match):
    from tf_wsoftmax.app.experiment.faces import FaceTrainConfig

    with pytest.raises(ValueError, match=match):
        FaceTrainConfig(data="unused", **kwargs)


@pytest.mark.parametrize("blocks", [2, 4, 8])
def test_a_run_may_draw_per_block_of_any_number_of_blocks(blocks):
    """The config's checks build the head with a stand-in number of classes that `sample_blocks`
    divides (they used to build it with 2, refusing any S > 2); the run's own K is checked when
    the run starts (test_faces.py)."""
    config = TrainConfig(loss="cosface", loss_params={"sample_rate": 0.25, "sample_blocks": blocks})
    assert config.resolved(0)["loss_params"]["sample_blocks"] == blocks
    with pytest.raises(ValueError, match="`sample_blocks` must"):
        TrainConfig(loss="cosface", loss_params={"sample_blocks": blocks})  # no class sampling
