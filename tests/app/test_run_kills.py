"""A run killed with SIGKILL at random moments and restarted ends exactly where an uninterrupted run ends.

`tf-wsoftmax train` on digits with the tiny backbone, 2 epochs (58 steps), a
checkpoint every 3 steps: on TensorFlow and JAX, with and without Partial
FC. The runs are killed at 20 random moments in all (4 per TensorFlow run, 6
per JAX run: a JAX process starts in about half the time, CI time) and
restarted after each kill; then they finish. The moments: one during
start-up (a random delay after the process starts), the others but one once
the run has passed a random step (plus a random fraction of a second: inside a step, a checkpoint write
or an epoch's validation), and one after its last step (evaluation and the
final writes). Its weights, optimizer slots and metric sums (every array of
the checkpoint), history.jsonl and metrics.json must equal the uninterrupted
run's byte for byte, and every step must have been trained exactly once.
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tf_wsoftmax.training.checkpoint import read_checkpoint
from tf_wsoftmax.training.checkpoint import read_state

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KILLS = {"tensorflow": 4, "jax": 6}  # 20 in all over the four variants


def command(out, backend, sample_rate):
    args = [sys.executable, "-m", "tf_wsoftmax_cli", "train", "--dataset", "digits", "--backbone", "tiny",
            "--epochs", "2", "--checkpoint-every", "3", "--quiet", "--backend", backend, "--out", str(out)]
    return args + (["--sample-rate", str(sample_rate)] if sample_rate < 1 else [])


def environment(backend):
    return dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)


def run_to_the_end(out, backend, sample_rate):
    started = time.time()
    result = subprocess.run(command(out, backend, sample_rate), cwd=ROOT, env=environment(backend),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return time.time() - started


def checkpoint_step(out):
    """The step of the run's checkpoint, or -1 (none yet, or being replaced right now)."""
    try:
        return read_state(os.path.join(out, "checkpoint.zip"))["step"]
    except (OSError, ValueError):
        return -1


def kill_when(out, backend, sample_rate, step, delay):
    """Starts the run, and kills it `delay` seconds after its checkpoint reaches `step`; False if it ends first."""
    process = subprocess.Popen(command(out, backend, sample_rate), cwd=ROOT, env=environment(backend),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 600
    while process.poll() is None and time.time() < deadline:
        if checkpoint_step(out) >= step:
            time.sleep(delay)
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait()
                return True
        time.sleep(0.01)
    process.wait(timeout=60)
    assert process.returncode == 0, process.stderr.read().decode()[-3000:]
    return False


def end_state(out):
    path = os.path.join(out, "checkpoint.zip")
    state = read_state(path)
    _, arrays = read_checkpoint(path, state["variables"])
    with open(os.path.join(out, "history.jsonl"), "rb") as f:
        history = f.read()
    with open(os.path.join(out, "metrics.json"), "rb") as f:
        metrics = f.read()
    return state, arrays, history, metrics


@pytest.mark.slow
@pytest.mark.parametrize("sample_rate", [1.0, 0.5], ids=["all_classes", "partial_fc"])
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_a_run_killed_at_random_moments_ends_as_an_uninterrupted_one(tmp_path, backend, sample_rate):
    reference = tmp_path / "reference"
    run_to_the_end(reference, backend, sample_rate)
    killed = tmp_path / "killed"
    rng = np.random.default_rng([len(backend), int(sample_rate * 10)])
    moments = [(-1, rng.uniform(0.5, 4.0))]  # start-up
    moments += [(int(step), rng.uniform(0.0, 0.3)) for step in np.sort(rng.integers(1, 58, KILLS[backend] - 2))]
    moments += [(58, rng.uniform(0.0, 0.5))]  # after the last step
    kills = [kill_when(killed, backend, sample_rate, step, delay) for step, delay in moments]
    run_to_the_end(killed, backend, sample_rate)
    expected_state, expected_arrays, expected_history, expected_metrics = end_state(reference)
    state, arrays, history, metrics = end_state(killed)
    assert sum(kills[:-1]) == KILLS[backend] - 1, f"the run finished before the kill moments {moments}"
    assert state["step"] == expected_state["step"] == 58
    assert [v["path"] for v in state["variables"]] == [v["path"] for v in expected_state["variables"]]
    for variable, got, want in zip(state["variables"], arrays, expected_arrays):
        assert got.dtype == want.dtype and np.array_equal(got, want), f"{variable['path']} differs"
    assert history == expected_history
    assert metrics == expected_metrics
    steps = sum(call["to_step"] - call["from_step"] for call in state["calls"])
    assert steps == 58  # every step trained once: none lost, none repeated
