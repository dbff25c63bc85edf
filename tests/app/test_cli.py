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


def test_help_starts_no_framework():
    """Building the parser imports neither Keras nor TensorFlow (the flags are plain data), and
    `--help` costs a small multiple of starting Python (before: 6.6-9.9 s, importing Keras)."""
    import os
    import subprocess
    import sys
    import time

    code = ("import sys; import tf_wsoftmax.app.cli as c; c.build_parser(); "
            "assert not {'keras', 'tensorflow', 'jax'} & set(sys.modules), sorted(sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr

    def fastest(command, runs=3):
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(command, capture_output=True, timeout=120, check=True)
            times.append(time.perf_counter() - started)
        return min(times)

    baseline = fastest([sys.executable, "-c", "pass"])
    entry = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "tf_wsoftmax_cli.py")
    helps = [fastest([sys.executable, entry, *sub, "--help"]) for sub in ([], ["train"], ["train-faces"])]
    # Python's own start-up is the unit; importing argparse, the declarations and the CLI module is
    # a few times that. Keras alone costs hundreds of times it, so a bound of 40 x cannot pass with it.
    assert max(helps) < 40 * baseline, (helps, baseline)
