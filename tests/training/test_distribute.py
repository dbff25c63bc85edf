"""tf.distribute: MirroredStrategy over 2 logical CPUs and 2 MultiWorkerMirroredStrategy
processes on 127.0.0.1 train to the same weights and centres as one device."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # subprocesses / long training; `pytest -m "not slow"` skips them

WORKER = os.path.join(os.path.dirname(__file__), "dist_worker.py")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tolerance(reference):
    """The bound on a float64 reordered-sum difference after the worker's 3 momentum-SGD steps.

    Each step sums at most n = 16 terms per value (the global batch), whose rounding differs by at
    most n eps between one device and the replicas; an update is at most lr / (1 - momentum) = 1
    gradient. Bound: steps * n * eps * max(1, |value|), with a factor 10 of slack.
    """
    largest = max(float(np.abs(reference[key]).max()) for key in reference.files)
    return 10 * 3 * 16 * np.finfo("float64").eps * max(1.0, largest)


def run(args, env=None, timeout=240):
    return subprocess.run([sys.executable, WORKER] + args, env=env, cwd=ROOT, timeout=timeout,
                          capture_output=True, text=True)


def test_mirrored_strategy_matches_one_device(tmp_path):
    out = str(tmp_path / "mirrored.npz")
    result = run(["mirrored", out])
    assert result.returncode == 0, result.stderr[-3000:]
    data = np.load(out)
    assert int(data["replicas"]) == 2
    # The head's schedule counts each step once, whatever the number of replicas.
    assert int(data["mirrored_iterations"]) == int(data["single_iterations"]) == 3
    bound = tolerance(data)
    for key in [k for k in data.files if k.startswith("single_")]:
        assert data[key].dtype != np.float32, key
        np.testing.assert_allclose(data["mirrored_" + key[len("single_"):]], data[key], rtol=0, atol=bound,
                                   err_msg=key)


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_multi_worker_processes_agree_with_one_device(tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    processes = []
    try:
        for index in range(2):
            env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
            processes.append(subprocess.Popen(
                [sys.executable, WORKER, "worker", str(tmp_path / f"w{index}.npz")],
                env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            ))
        # The one-device reference runs meanwhile (the workers wait on each other part of the time).
        processes.append(subprocess.Popen(
            [sys.executable, WORKER, "single", str(tmp_path / "single.npz")],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
        outputs = [p.communicate(timeout=240) for p in processes]
    finally:
        for p in processes:  # always shut down, also on timeout or failure
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)
    for p, (_, err) in zip(processes, outputs):
        assert p.returncode == 0, err[-3000:]
    first, second, single = (np.load(tmp_path / name) for name in ("w0.npz", "w1.npz", "single.npz"))
    assert int(first["replicas"]) == 2
    assert int(first["iterations"]) == int(second["iterations"]) == int(single["iterations"]) == 3
    bound = tolerance(single)
    for key in single.files:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)  # the workers hold one model
        np.testing.assert_allclose(first[key], single[key], rtol=0, atol=bound, err_msg=key)
