"""experiments/summarize.py: bad metrics.json files are named, missing runs are shown, and the paired
intervals it prints are Student-t intervals (checked against scipy.stats)."""

import importlib.util
import json
import pathlib

import numpy as np
import pytest
from scipy import stats

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "experiments" / "summarize.py"


@pytest.fixture(scope="module")
def summarize():
    spec = importlib.util.spec_from_file_location("summarize_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_metrics(loss, seed, accuracy):
    return {
        "config": {"loss": loss, "seed": seed, "epochs": 2, "dataset": "digits", "backbone": "small",
                   "loss_params": {}},
        "test_accuracy": accuracy,
        "hardware": "test machine",
        "angles_test": {"intra_mean": 20.0 + seed, "weights_mean_pairwise_cosine": -0.1},
        "angles_train": {"intra_mean": 19.0 + seed},
    }


def write_study(folder, accuracies):
    """accuracies: {row: [accuracy per seed 0, 1, ...]}; one <row>_s<seed>/metrics.json each."""
    for row, values in accuracies.items():
        for seed, accuracy in enumerate(values):
            (folder / f"{row}_s{seed}").mkdir(parents=True)
            (folder / f"{row}_s{seed}" / "metrics.json").write_text(json.dumps(run_metrics(row, seed, accuracy)))


def test_paired_intervals_are_student_t_intervals(summarize, tmp_path, capsys):
    base = [0.90, 0.91, 0.89, 0.92, 0.905]
    other = [0.915, 0.93, 0.895, 0.94, 0.91]
    write_study(tmp_path, {"softmax": base, "wsoftmax": other})
    assert summarize.main([str(tmp_path), "--paired", "softmax"]) == 0
    printed = capsys.readouterr().out
    differences = 100 * (np.array(other) - np.array(base))
    low, high = stats.t.interval(0.95, len(differences) - 1, loc=differences.mean(), scale=stats.sem(differences))
    resolved = stats.ttest_rel(100 * np.array(other), 100 * np.array(base)).pvalue < 0.05
    row = next(line for line in printed.splitlines() if line.startswith("| wsoftmax |"))
    assert f"{differences.mean():+.2f} [{low:+.2f}, {high:+.2f}]" + (" *" if resolved else "") in row
    rows, missing = summarize.load_rows(str(tmp_path))
    records = summarize.summarize(rows, "softmax", missing)
    interval = next(r for r in records if r["row"] == "wsoftmax")["paired_difference"]
    np.testing.assert_allclose([interval["low"], interval["high"]], [low, high], rtol=1e-12)
    assert interval["resolved"] == resolved
    accuracy = next(r for r in records if r["row"] == "softmax")["test_accuracy"]
    np.testing.assert_allclose([accuracy["mean"], accuracy["std"]],
                               [100 * np.mean(base), 100 * np.std(base, ddof=1)], rtol=1e-12)


@pytest.mark.parametrize(
    "content, problem",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object of run metrics, found a list"),
        ("null", "expected a JSON object of run metrics, found null"),
        (json.dumps({k: v for k, v in run_metrics("softmax", 1, 0.9).items() if k != "test_accuracy"}),
         "missing key 'test_accuracy'"),
        (json.dumps(dict(run_metrics("softmax", 1, 0.9), angles_train={})), "missing key 'angles_train.intra_mean'"),
        (json.dumps(dict(run_metrics("softmax", 1, 0.9), config=None)), "'config' must be an object; found null"),
        (json.dumps(dict(run_metrics("softmax", 1, 0.9), test_accuracy=[0.9])), "'test_accuracy' must be .*found a list"),
        (json.dumps(dict(run_metrics("softmax", 1, 0.9), test_accuracy=None)), "'test_accuracy' must be .*found null"),
        (json.dumps(run_metrics("softmax", 1, float("nan"))), "'test_accuracy' must be a finite fraction.*nan"),
        (json.dumps(run_metrics("softmax", 1, float("inf"))), "'test_accuracy' must be a finite fraction.*inf"),
        (json.dumps(run_metrics("softmax", 1, 32.28)), r"'test_accuracy' must be a finite fraction in \[0, 1\] "
                                                       r"\(not percent\); found 32.28"),
        (json.dumps(dict(run_metrics("softmax", 1, 0.9), angles_test={"intra_mean": float("nan"),
                                                                     "weights_mean_pairwise_cosine": 0.0})),
         "'angles_test.intra_mean' must be a finite angle"),
    ],
)
def test_a_bad_metrics_file_is_an_error_naming_it(summarize, tmp_path, capsys, content, problem):
    write_study(tmp_path, {"softmax": [0.9, 0.91]})
    bad = tmp_path / "softmax_s1" / "metrics.json"
    bad.write_text(content)
    with pytest.raises(ValueError, match=f"{bad}: {problem}"):
        summarize.load_rows(str(tmp_path))
    assert summarize.main([str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {bad}: ") and "Traceback" not in error


def test_runs_without_metrics_are_shown_as_missing(summarize, tmp_path, capsys):
    write_study(tmp_path, {"softmax": [0.9, 0.91, 0.92], "cosface": [0.93, 0.94, 0.95]})
    (tmp_path / "softmax_s1" / "metrics.json").unlink()
    (tmp_path / "softmax_s3").mkdir()  # started, never finished
    (tmp_path / "arcface_s0").mkdir()  # a row with no finished run
    assert summarize.main([str(tmp_path), "--paired", "cosface"]) == 0
    printed = capsys.readouterr().out
    row = next(line for line in printed.splitlines() if line.startswith("| softmax |"))
    assert "| 2 (2 missing) |" in row and f"| {100 * (0.9 + 0.92) / 2:.2f} +- " in row
    assert next(line for line in printed.splitlines() if line.startswith("| arcface |")).count("missing") >= 5
    assert "missing: 3 run folder(s) without metrics.json, not counted: softmax_s1, softmax_s3, arcface_s0" in printed
