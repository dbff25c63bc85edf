import json

import pytest

from tf_wsoftmax.app import cli

@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo.json"
    assert cli.main(["demo", "--epochs", "4", "--pretrain-epochs", "1", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| softmax |" in printed and "| wsoftmax |" in printed
    results = json.loads(out.read_text())["results"]
    assert [r["loss"] for r in results] == ["softmax", "wsoftmax"]
    for r in results:
        assert 0.0 <= r["test_accuracy"] <= 1.0 and 0.0 <= r["mean_angle_test"] <= 180.0
        # 4 epochs on digits: far above chance (10%); about 0.97 when seen here.
        assert r["train_accuracy"] > 0.8


@pytest.mark.parametrize(
    "flags,match",
    [(["--alpha", "-1"], "alpha"), (["--epochs", "2", "--pretrain-epochs", "3"], "pretrain_epochs")],
)
def test_bad_flags_are_rejected(capsys, flags, match):
    assert cli.main(["demo"] + flags) == 2
    assert match in capsys.readouterr().err


def test_unknown_command_exits():
    with pytest.raises(SystemExit):
        cli.main(["nope"])


@pytest.mark.slow
def test_console_entry_point_starts_quietly_unless_verbose():
    """The entry point imports TensorFlow with stderr silenced: `--help` prints
    the usage and nothing on stderr (TensorFlow's start-up log would be there)."""
    import subprocess
    import sys

    quiet = subprocess.run([sys.executable, "-m", "tf_wsoftmax_cli", "--help"], capture_output=True, text=True,
                           timeout=120)
    assert quiet.returncode == 0 and "usage: tf-wsoftmax" in quiet.stdout
    assert quiet.stderr.strip() == ""
    loud = subprocess.run([sys.executable, "-m", "tf_wsoftmax_cli", "--verbose", "--help"], capture_output=True,
                          text=True, timeout=120)
    assert loud.returncode == 0 and "usage: tf-wsoftmax" in loud.stdout
    # errors are not swallowed
    bad = subprocess.run([sys.executable, "-m", "tf_wsoftmax_cli", "train", "--loss", "cosface", "--alpha", "1",
                          "--out", "unused"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "`alpha` does not apply to loss 'cosface'" in bad.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "heads", "--dim", "0"],
        ["bench", "step", "--batch", "0"],
        ["train", "--checkpoint-every", "0", "--out", "x"],
        ["demo", "--batch-size", "0"],
        ["train-faces", "--data", "d", "--out", "o", "--steps", "-3"],
        ["verify", "--model", "m", "--bin", "b", "--far", "2"],
        ["verify", "--model", "m", "--bin", "b", "--far", "nan"],
        ["export", "--model", "m", "--out", "o", "--name", "n", "--version", "0"],
    ],
)
def test_zero_negative_and_out_of_range_sizes_are_refused_before_anything_runs(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert "must be" in capsys.readouterr().err
