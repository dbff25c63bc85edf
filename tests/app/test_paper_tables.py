"""experiments/gpu_paper_tables.sh --tiny end to end on this CPU, on Keras-JAX without TensorFlow."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from tests.app.no_tensorflow import environment
from tests.data_files import make_idx_folder
from tf_wsoftmax.app.experiment.paper_tables import PaperTablesConfig
from tf_wsoftmax.app.experiment.paper_tables import TABLE1_ROWS
from tf_wsoftmax.app.experiment.paper_tables import run_configs
from tf_wsoftmax.app.experiment.paper_tables import size_epochs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_script(tmp_path, out, *extra):
    return subprocess.run(
        ["bash", os.path.join(ROOT, "experiments", "gpu_paper_tables.sh"), str(tmp_path / "data"), str(out), "--tiny",
         *extra],
        env=environment(PYTHON=sys.executable, RUNS=str(tmp_path / "runs")), capture_output=True, text=True,
        timeout=900,
    )


@pytest.mark.slow
def test_the_gpu_script_runs_tiny_here_and_writes_the_tables(tmp_path):
    make_idx_folder(str(tmp_path / "data"), n_train=200, n_test=60)
    out = tmp_path / "out"
    result = run_script(tmp_path, out)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(os.listdir(out)) == ["fig5_angles.png", "paper_tables.json", "paper_tables.md"]  # fits $OUT's 8 files
    with open(out / "paper_tables.json") as f:
        summary = json.load(f)
    assert [r["row"] for r in summary["table1"]] == list(TABLE1_ROWS)
    assert summary["epochs"] == 1 and summary["steps_per_epoch"] == 4  # ceil(200 / 50)
    assert [r["classes"] for r in summary["table4"]] == [5]
    assert set(summary["fig5_per_class"]) == set(TABLE1_ROWS) - {"lsoftmax"}
    assert all(len(v) == 10 for v in summary["fig5_per_class"].values())
    assert "JAX" in summary["hardware"]
    assert "| softmax |" in (out / "paper_tables.md").read_text()
    with open(tmp_path / "runs" / "epochs1" / "lsoftmax" / "metrics.json") as f:
        assert json.load(f)["config"]["loss_params"]["multiplicative_margin"] == 4  # the released MNIST margin (preset)
    # A re-run reading its plan back without re-timing: test_the_plan_is_keyed_and_made_again_from_the_timing_run.


@pytest.mark.slow
def test_the_plan_is_keyed_and_made_again_from_the_timing_run(tmp_path, capsys):
    """A kill between the timing run and plan.json loses nothing: the plan is sized again from the
    timing run's own record, without training; another budget is another plan; an estimate past
    the budget is said before the runs start."""
    from tf_wsoftmax.app.experiment import paper_tables

    make_idx_folder(str(tmp_path / "data"), n_train=100, n_test=20)
    config = PaperTablesConfig(data_dir=str(tmp_path / "data"), runs_dir=str(tmp_path / "runs"), tiny=True,
                               budget_seconds=600.0)
    plan = paper_tables._plan(config, started=0.0 + __import__("time").time())
    timing_checkpoint = tmp_path / "runs" / "timing_tiny" / "checkpoint.zip"
    trained = timing_checkpoint.stat().st_mtime_ns
    os.remove(tmp_path / "runs" / "plan.json")  # killed before the plan was written
    again = paper_tables._plan(config, started=__import__("time").time())
    assert again["timing"] == plan["timing"] and timing_checkpoint.stat().st_mtime_ns == trained
    other = dataclasses.replace(config, budget_seconds=1.0, max_epochs=3)
    replanned = paper_tables._plan(other, started=__import__("time").time())
    assert replanned["key"] != plan["key"] and replanned["timing"] == plan["timing"]
    assert timing_checkpoint.stat().st_mtime_ns == trained  # sized again, not trained again
    assert replanned["epochs"] == 1 and "past the budget of 0.0 min" in paper_tables.over_budget_warning(replanned, 1.0)
    assert paper_tables.over_budget_warning(plan, 600.0) is None


def test_epochs_are_sized_to_the_budget(tmp_path):
    config = PaperTablesConfig(data_dir=str(tmp_path))
    configs = run_configs(config, 1)
    assert len(configs) == 5 + 2 * 5
    timing = {"train_seconds": 10.0, "other_seconds": 2.0, "num_classes": 10}
    # 5 full runs + Table 4 (2 runs each at K/10 of the data: 2 * (5+6+7+8+9) / 10 = 7 run-equivalents)
    epochs, estimate = size_epochs(timing, configs, budget_seconds=600.0, max_epochs=100)
    assert epochs == int((600 - 2.0 * 15) // (10.0 * 12))
    assert estimate <= 600
    assert size_epochs(timing, configs, budget_seconds=1.0, max_epochs=100)[0] == 1
    assert size_epochs(timing, configs, budget_seconds=1e9, max_epochs=7)[0] == 7


@pytest.mark.parametrize("kwargs,match", [
    ({"dataset": "cifar10"}, "mnist"), ({"data_dir": None}, "IDX"), ({"budget_seconds": 0}, "budget"),
    ({"budget_seconds": float("inf")}, "finite"),
])
def test_bad_settings_are_errors(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        PaperTablesConfig(**{"data_dir": str(tmp_path), **kwargs})
