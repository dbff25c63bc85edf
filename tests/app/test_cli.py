"""The `tf-wsoftmax` command line: the table of commands, usage errors before any framework, `--help`."""

import argparse
import json
import os
import pathlib
import re
import shlex
import subprocess
import sys
import time

import pytest

from tf_wsoftmax.app import cli
from tf_wsoftmax.app.commands import COMMANDS

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENTRY = str(ROOT / "tf_wsoftmax_cli.py")
SWEEPS = ["units-sweep", "alpha-sweep", "class-sweep", "features-2d", "gradient-modes"]
FRAMEWORKS = {"keras", "tensorflow", "jax"}


def fastest(command, runs=3, **kwargs):
    """The least wall time of `runs` runs of `command` (seconds)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, timeout=120, **kwargs)
        times.append(time.perf_counter() - started)
    return min(times)


@pytest.fixture(scope="module")
def usage_error_bound():
    """One second, or 10 x starting Python with argparse where that is slower (a loaded machine).

    Starting TensorFlow or Keras costs 2 to 15 s on x86-64 machines, whatever their load relative
    to this baseline, so a usage error that imports a framework cannot pass this bound.
    """
    return max(1.0, 10 * fastest([sys.executable, "-c", "import argparse"]))


def leaf_parsers(parser, prefix=()):
    """(command name, parser) of every command of the table, walking nested subcommands (bench heads)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if "_command" in sub._defaults:
                    yield " ".join(prefix + (name,)), sub
                yield from leaf_parsers(sub, prefix + (name,))


def flag_help(command, flag):
    """The help text of `flag` of `command`, as `--help` prints it (defaults filled in, one line)."""
    parser = dict(leaf_parsers(cli.build_parser()))[command]
    action = next(a for a in parser._actions if flag in a.option_strings)
    return " ".join(parser._get_formatter()._expand_help(action).split())


def shown(value):
    if isinstance(value, list):
        return " ".join(shown(v) for v in value)
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def test_the_parser_is_built_from_the_table_of_commands():
    assert {name for name, _ in leaf_parsers(cli.build_parser())} == {command.name for command in COMMANDS}
    assert len(COMMANDS) == 18 and len({command.name for command in COMMANDS}) == 18
    for command in COMMANDS:  # a runner per row; help, arguments and checks are data
        assert callable(command.run) and command.help and command.arguments


def test_every_flag_of_every_command_says_what_it_means_and_its_default():
    """Every argument has a help text; a flag with a default shows it ("default: 20"), and a flag
    whose default is decided at run time says so in words ("default: a quarter of --epochs")."""
    problems = []
    for name, parser in leaf_parsers(cli.build_parser()):
        formatter = parser._get_formatter()
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            text = " ".join(formatter._expand_help(action).split()) if action.help else ""
            label = f"{name} {action.option_strings or action.dest}"
            if not text:
                problems.append(f"{label}: no help")
            elif not action.option_strings or action.required or action.default is argparse.SUPPRESS:
                continue  # positionals and required flags have no default
            elif action.default is None:
                if "default" not in text:
                    problems.append(f"{label}: the default (None) is not explained: {text}")
            elif action.default is not False and f"default: {shown(action.default)}" not in text:
                problems.append(f"{label}: default {shown(action.default)} not shown: {text}")
    assert problems == []


def test_the_help_texts_that_were_wrong():
    # Owners and defaults side by side, in the same order.
    assert "[lsoftmax, sphereface] (default: lsoftmax 2.5e-05 / sphereface 0.12" in flag_help("train", "--lambda-gamma")
    assert "(default: lsoftmax 35 / sphereface 1;" in flag_help("train", "--lambda-power")
    scale = "default: 16 for train's 10-class datasets (paper preset), 64 for train-faces"
    assert scale in flag_help("train", "--scale") and scale in flag_help("train-faces", "--scale")
    assert "64:" not in flag_help("train", "--scale")
    # train-faces has no dataset, hence no preset: its loss flags take the loss's default.
    parser = dict(leaf_parsers(cli.build_parser()))["train-faces"]
    assert "preset" not in parser.format_help().replace("(paper preset), 64 for train-faces", "")
    assert "unset: the loss's default" in parser.format_help().replace("\n", " ")
    train = dict(leaf_parsers(cli.build_parser()))["train"]
    bias_gradient = next(a for a in train._actions if a.dest == "bias_gradient")
    assert bias_gradient.choices == ["stop", "full"] and "{stop,full}" in train.format_usage()


def test_the_preset_defaults_in_the_help_are_the_presets_train_applies():
    """Every paper preset that differs from a loss's declared default is in its flag's help."""
    from tf_wsoftmax.app.experiment.config import paper_presets
    from tf_wsoftmax.declarations import default_of
    from tf_wsoftmax.models.specs import DEFAULT_BACKBONES

    for dataset in DEFAULT_BACKBONES:
        for augment in (False, True):
            for loss in ("lsoftmax", "sphereface", "cosface", "arcface"):
                for name, value in paper_presets(loss, dataset, augment).items():
                    if value != default_of(loss, name):
                        assert f"{value:g}" in flag_help("train", "--" + name.replace("_", "-")), (loss, name)


def test_each_sweep_takes_only_its_own_flags(capsys):
    """A flag of another sweep is refused by name (it used to be accepted and ignored), and so is
    a flag of `train` that the sweep sets itself, saying what to use instead."""
    commands = {command.name: command for command in COMMANDS}
    for name in SWEEPS:
        own = set(commands[name].option_strings)
        foreign = {flag for other in SWEEPS for flag in commands[other].option_strings} - own
        foreign |= set(commands["train"].option_strings) - own - {"--overwrite"}
        assert foreign
        for flag in sorted(foreign):
            with pytest.raises(SystemExit) as exit_info:
                cli.build_parser().parse_args([name, flag, "1"])
            assert exit_info.value.code == 2
            assert f"{name} does not take {flag}" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["gradient-modes", "--classes-list", "5", "6"])
    assert "gradient-modes does not take --classes-list (a flag of class-sweep)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["gradient-modes", "--alpha", "1"])
    assert "gradient-modes does not take --alpha: use --alphas" in capsys.readouterr().err
    args = cli.build_parser().parse_args(["units-sweep", "--feature-dims", "2", "9", "--alphas", "1", "--epochs", "1"])
    assert (args.feature_dims, args.alphas, args.out) == ([2, 9], [1.0], "runs/units-sweep")


def test_a_misspelt_flag_or_command_names_the_closest(capsys):
    for argv, expected in [
        (["train", "--alpah", "1", "--out", "o"], "train does not take --alpah (did you mean '--alpha'?)"),
        (["trian"], "invalid choice: 'trian' (did you mean 'train'?)"),
        (["bench", "hedas"], "invalid choice: 'hedas' (did you mean 'heads'?)"),
        (["train", "--backbone", "lenet", "--out", "o"], "(did you mean 'lenets_pp'?)"),
        (["bench", "step", "--sample-rate", "0.5"], "bench step does not take --sample-rate (a flag of bench heads, "
         "bench memory)"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        assert exit_info.value.code == 2
        assert expected in capsys.readouterr().err


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path, capsys):
    """2 epochs without --pretrain-epochs (it used to need 5): a quarter of them, at least 1, is the softmax
    phase; one line per epoch while it trains."""
    out = tmp_path / "demo.json"
    assert cli.main(["demo", "--epochs", "2", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| softmax |" in printed and "| wsoftmax |" in printed and "after 1 softmax epochs" in printed
    assert [line.split(":")[0] for line in printed.splitlines() if " epoch " in line.split(":")[0]] == [
        "softmax epoch 1/2", "softmax epoch 2/2", "wsoftmax epoch 1/2 (softmax phase)", "wsoftmax epoch 2/2 (W-Softmax)",
    ]
    saved = json.loads(out.read_text())
    assert saved["config"]["pretrain_epochs"] is None
    results = saved["results"]
    assert [r["loss"] for r in results] == ["softmax", "wsoftmax"]
    for r in results:
        assert 0.0 <= r["test_accuracy"] <= 1.0 and 0.0 <= r["mean_angle_test"] <= 180.0
        # 2 epochs on digits: far above chance (10%); about 0.98 when seen here.
        assert r["train_accuracy"] > 0.8


def test_demo_takes_a_quarter_of_its_epochs_for_softmax_by_default(capsys):
    args = cli.build_parser().parse_args(["demo", "--epochs", "2"])
    assert args.pretrain_epochs is None  # DemoConfig: a quarter of the epochs (it was a fixed 5: refused at 2)
    assert "a quarter of --epochs" in flag_help("demo", "--pretrain-epochs")
    assert cli.main(["demo", "--epochs", "2", "--pretrain-epochs", "3"]) == 2
    assert capsys.readouterr().err == "error: --pretrain-epochs 3 is more than --epochs 2\n"
    with pytest.raises(SystemExit):
        cli.main(["demo", "--alpha", "-1"])
    assert "argument --alpha: must be >= 0, got -1" in capsys.readouterr().err


def test_unknown_command_exits():
    with pytest.raises(SystemExit):
        cli.main(["nope"])


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "heads", "--dim", "0"],
        ["bench", "step", "--batch", "0"],
        ["bench", "heads", "--sample-rate", "0"],
        ["train", "--checkpoint-every", "0", "--out", "x"],
        ["train", "--learning-rate", "0", "--out", "x"],
        ["train", "--weight-decay=-1e-4", "--out", "x"],
        ["demo", "--batch-size", "0"],
        ["train-faces", "--data", "d", "--out", "o", "--steps", "-3"],
        ["verify", "--model", "m", "--bin", "b", "--far", "2"],
        ["verify", "--model", "m", "--bin", "b", "--far", "nan"],
        ["verify", "--model", "m", "--bin", "b", "--max-set-pixels", "0"],
        ["export", "--model", "m", "--out", "o", "--name", "n", "--version", "0"],
        ["align", "src", "dst", "--min-confidence", "1.5"],
        ["align", "src", "dst", "--image-size", "15"],
        ["paper-tables", "--data-dir", "d", "--out", "o", "--budget-minutes", "inf"],
    ],
)
def test_zero_negative_and_out_of_range_sizes_are_refused_before_anything_runs(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert "must be" in capsys.readouterr().err


def test_paper_tables_speaks_of_minutes_for_a_flag_in_minutes(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["paper-tables", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o"), "--budget-minutes", "0"])
    err = capsys.readouterr().err
    assert "argument --budget-minutes: must be > 0, got 0" in err and "seconds" not in err


def test_paper_tables_names_runs_dir_for_a_run_folder_of_another_run(tmp_path, capsys):
    """The run folders of paper-tables are --runs-dir's: a folder there holding another run is
    named with that flag, without advice about flags paper-tables does not have (--out, --overwrite)."""
    from tests.data_files import make_idx_folder
    from tf_wsoftmax.training import RunFolder

    make_idx_folder(str(tmp_path / "data"), n_train=100, n_test=20)
    with RunFolder(str(tmp_path / "runs" / "timing_tiny")) as folder:
        folder.claim({"another": "run"})
    code = cli.main(["paper-tables", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "out"),
                     "--runs-dir", str(tmp_path / "runs"), "--tiny"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --runs-dir {tmp_path / 'runs'}: ") and "Give another --runs-dir" in err
    assert "--out" not in err and "--overwrite" not in err and len(err.splitlines()) == 1


def test_lfw_and_verify_share_one_flip_default_and_verify_passes_its_pixel_budget(tmp_path, monkeypatch, capsys):
    """Flip fusion is on for both (as InsightFace's verification), --no-flip turns it off; verify's
    --max-set-pixels reaches `evaluate_bins`."""
    from tf_wsoftmax.app.commands import faces
    from tf_wsoftmax.eval import lfw
    from tf_wsoftmax.eval import verification

    class Embedder:
        input_shape = (None, 16, 16, 3)

    calls = []
    metrics = dict(accuracy_mean=1.0, accuracy_std=0.0, val_mean=1.0, val_std=0.0, auc=1.0, eer=0.0, pairs=20)
    monkeypatch.setattr(faces, "load_embedder", lambda path: Embedder())
    monkeypatch.setattr(verification, "evaluate_bins", lambda embed, paths, **kw: calls.append(kw) or {})
    monkeypatch.setattr(lfw, "evaluate_lfw", lambda embed, pairs, folder, **kw: calls.append(kw) or metrics)
    for name in ("model.keras", "lfw.bin", "pairs.txt"):
        (tmp_path / name).write_text("x")
    verify = ["verify", "--model", str(tmp_path / "model.keras"), "--bin", str(tmp_path / "lfw.bin")]
    lfw_command = ["lfw", "--pairs", str(tmp_path / "pairs.txt"), "--dir", str(tmp_path), "--model",
                   str(tmp_path / "model.keras")]
    for argv in (verify, verify + ["--no-flip", "--max-set-pixels", "123"], lfw_command, lfw_command + ["--no-flip"]):
        assert cli.main(argv) == 0
    assert [call["flip_fusion"] for call in calls] == [True, False, True, False]
    assert calls[0]["max_total_pixels"] is None and calls[1]["max_total_pixels"] == 123
    assert flag_help("lfw", "--flip") == flag_help("verify", "--flip")
    assert "--no-flip" in flag_help("verify", "--flip") and "default: on" in flag_help("verify", "--flip")
    capsys.readouterr()


def test_verify_max_set_pixels_help_states_the_library_default():
    from tf_wsoftmax.data.verification_bin import MAX_SET_PIXELS

    assert f"default: {MAX_SET_PIXELS}," in flag_help("verify", "--max-set-pixels")


def test_bench_heads_lists_the_heads_that_cannot_sample_as_not_applicable(monkeypatch, capsys):
    """Only rates below 1 timed: the asked-for heads that cannot sample are 'n/a' rows, not left out."""
    from tf_wsoftmax.app.bench import heads

    def time_heads(names, classes, dim, batch, dtype, jit, repeats, rounds, sample_rate, update):
        return [
            dict(loss=name, backend="tensorflow", device="cpu", jit_compile=jit, classes=classes, dim=dim, batch=batch,
                 dtype=dtype, sample_rate=sample_rate, rounds=rounds, repeats=repeats, min_ms=1.0, median_ms=1.0,
                 round_medians_ms=[1.0])
            for name in names if name == heads.FLOOR or heads.samples(name)
        ]

    monkeypatch.setattr(heads, "time_heads", time_heads)
    assert cli.main(["bench", "heads", "--classes", "20", "--dim", "4", "--jit", "off", "--losses", "wsoftmax",
                     "lsoftmax", "--sample-rate", "0.5"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| lsoftmax |")]
    assert len(rows) == 1 and "| n/a |" in rows[0]


def test_the_table_imports_no_framework_and_the_names_it_keeps_match_the_library():
    code = ("import sys; import tf_wsoftmax.app.cli as c; c.build_parser(); "
            f"assert not {FRAMEWORKS | {'numpy'}!r} & set(sys.modules), sorted(sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    from tf_wsoftmax.app.bench import heads
    from tf_wsoftmax.losses import LOSSES

    assert set(heads.HEADS) == set(LOSSES) | {"wsoftmax_full"}


def usage_error_cases(tmp_path):
    """(argv, what stderr must say) for usage errors, with the files the others need made in tmp_path."""
    for name in ("model.keras", "pairs.txt", "lfw.bin"):
        (tmp_path / name).write_text("x")
    return [
        (["train", "--loss", "wsoftmx", "--out", "run"], "invalid choice: 'wsoftmx' (did you mean 'wsoftmax'?)"),
        (["train", "--dataset", "fashion-mnist", "--out", "run"], "(did you mean 'fashion_mnist'?)"),
        (["train", "--dataset", "digits"], "the following arguments are required: --out"),
        (["train", "--data-dir", "missing", "--out", "run"], "error: --data-dir missing: no such folder"),
        (["train", "--loss", "cosface", "--alpha", "1", "--out", "run"], "--alpha does not apply to --loss cosface"),
        (["paper-tables", "--data-dir", "missing", "--out", "out"], "error: --data-dir missing: no such folder"),
        (["train-faces", "--data", "missing.rec", "--out", "run"], "--data missing.rec: no such file or folder"),
        (["train-faces", "--data", "model.keras", "--bin", "missing.bin", "--out", "run"],
         "--bin missing.bin: no such file"),
        (["lfw", "--pairs", "missing.txt", "--dir", ".", "--model", "model.keras"],
         "--pairs missing.txt: no such file"),
        (["lfw", "--pairs", "pairs.txt", "--dir", "missing", "--model", "model.keras"],
         "--dir missing: no such folder"),
        (["verify", "--model", "missing.keras", "--bin", "lfw.bin"], "error: --model missing.keras: no such file"),
        (["verify", "--model", "model.keras", "--bin", "lfw.bin", "missing.bin"], "--bin missing.bin: no such file"),
        (["verify", "--model", "model.keras", "--bin", "lfw.bin", "./lfw.bin"], "given more than once"),
        (["export", "--model", "missing.keras", "--out", "serving"], "--model missing.keras: no such file"),
        (["bench", "input", "--data", "missing.rec"], "--data missing.rec: no such file"),
        (["gradient-modes", "--classes-list", "5", "6"], "does not take --classes-list (a flag of class-sweep)"),
        (["trian"], "(did you mean 'train'?)"),
    ]


def test_usage_errors_are_reported_at_once_by_the_command(tmp_path, usage_error_bound):
    """Each usage error through `tf_wsoftmax_cli.py` as a user runs it: exit code 2, one `error:` line
    naming the flag or file, nothing written, in under a second (it took 9-15 s importing TensorFlow)."""
    cases = usage_error_cases(tmp_path)
    before = sorted(os.listdir(tmp_path))
    seconds = {}
    for argv, expected in cases:
        started = time.perf_counter()
        result = subprocess.run([sys.executable, ENTRY, *argv], cwd=tmp_path, capture_output=True, text=True,
                                timeout=120)
        seconds[" ".join(argv)] = elapsed = time.perf_counter() - started
        assert result.returncode == 2, (argv, result.stderr)
        assert expected in result.stderr, (argv, result.stderr)
        assert len([line for line in result.stderr.splitlines() if "error:" in line]) == 1, result.stderr
        assert "Traceback" not in result.stderr and result.stdout == ""
        assert elapsed < usage_error_bound, (argv, elapsed, usage_error_bound)
    assert sorted(os.listdir(tmp_path)) == before
    print(json.dumps({argv: round(s, 3) for argv, s in seconds.items()}, indent=1))


def test_usage_errors_import_no_framework(tmp_path):
    """The same errors in one process through `cli.main`: Keras, TensorFlow and JAX are never imported."""
    cases = [argv for argv, _ in usage_error_cases(tmp_path)]
    code = (
        "import json, sys\nfrom tf_wsoftmax.app import cli\n"
        f"for argv in json.loads({json.dumps(json.dumps(cases))}):\n"
        "    try:\n        assert cli.main(argv) == 2, argv\n"
        "    except SystemExit as exit:\n        assert exit.code == 2, argv\n"
        f"assert not {FRAMEWORKS!r} & set(sys.modules), sorted({FRAMEWORKS!r} & set(sys.modules))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]


def test_version_is_printed_without_a_framework(usage_error_bound):
    from tf_wsoftmax import __version__

    started = time.perf_counter()
    result = subprocess.run([sys.executable, ENTRY, "--version"], capture_output=True, text=True, timeout=120)
    assert time.perf_counter() - started < usage_error_bound
    assert result.returncode == 0 and result.stdout == f"tf-wsoftmax {__version__}\n"


def test_help_starts_no_framework():
    """`--help` costs a small multiple of starting Python (before: 6.6-9.9 s, importing Keras)."""
    baseline = fastest([sys.executable, "-c", "pass"])
    commands = ([], ["train"], ["train-faces"], ["bench", "heads"])
    helps = [fastest([sys.executable, ENTRY, *sub, "--help"]) for sub in commands]
    # Python's own start-up is the unit; importing argparse, the declarations and the table is
    # a few times that. Keras alone costs hundreds of times it, so a bound of 40 x cannot pass with it.
    assert max(helps) < 40 * baseline, (helps, baseline)


@pytest.mark.slow
def test_console_entry_point_starts_quietly_unless_verbose(tmp_path):
    """A command that starts TensorFlow and then fails prints its one error line and nothing of
    TensorFlow's start-up log; --verbose (anywhere) lets the log through."""
    (tmp_path / "notes.keras").write_text("not a model")
    argv = [sys.executable, ENTRY, "export", "--model", str(tmp_path / "notes.keras"), "--out", str(tmp_path / "s")]
    quiet = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 2
    assert quiet.stderr.splitlines() == [quiet.stderr.strip()] and quiet.stderr.startswith("error: --model ")
    assert "is not a Keras model file" in quiet.stderr
    loud = subprocess.run(argv + ["--verbose"], capture_output=True, text=True, timeout=300)
    assert loud.returncode == 2 and "is not a Keras model file" in loud.stderr
    helped = subprocess.run([sys.executable, ENTRY, "--verbose", "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "usage: tf-wsoftmax" in helped.stdout and helped.stderr == ""


@pytest.mark.slow
def test_a_jax_run_prints_none_of_tensorflows_start_up_log_where_tensorflow_is_installed(tmp_path):
    """Keras imports TensorFlow on JAX too where it is installed (`keras.utils.set_random_seed`
    seeds it): the entry point imports it quietly first, so its log does not appear mid-run."""
    argv = [sys.executable, ENTRY, "train", "--backend", "jax", "--dataset", "digits", "--classes", "2",
            "--backbone", "tiny", "--epochs", "1", "--quiet", "--out", str(tmp_path / "run")]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300,
                            env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "absl::InitializeLog" not in result.stderr and "oneDNN" not in result.stderr, result.stderr


def readme_first_command():
    """The first command of the README's "Command line" section, as written."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Command line", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    return shlex.split(block.splitlines()[0].split("#", 1)[0])


@pytest.mark.slow
def test_the_readme_first_command_line_example_runs_offline_as_written(tmp_path):
    argv = readme_first_command()
    assert argv[:2] == ["tf-wsoftmax", "train"] and argv[argv.index("--dataset") + 1] == "digits"
    # digits is scikit-learn's bundled copy: nothing is downloaded (the test suite runs offline).
    result = subprocess.run([sys.executable, ENTRY, *argv[1:]], cwd=tmp_path, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / argv[argv.index("--out") + 1]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.9 and (out / "model.keras").exists()
    assert "test_accuracy=" in result.stdout
