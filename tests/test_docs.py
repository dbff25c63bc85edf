"""The Python examples of README.md and docs/*.md run as written (in a temporary directory)."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))


def python_blocks():
    return [
        (f"{path.relative_to(ROOT)} block {index}", block)
        for path in DOCUMENTS
        for index, block in enumerate(re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S))
    ]


def test_readme_has_both_training_paths():
    blocks = [block for name, block in python_blocks() if name.startswith("README.md")]
    assert any("model.fit" in b for b in blocks) and any("TrainStep" in b for b in blocks)


def test_readme_is_a_short_front_door_with_working_links():
    text = (ROOT / "README.md").read_text()
    assert len(text.encode()) < 12 * 1024
    for target in re.findall(r"\]\((docs/[^)#]+)\)", text):
        assert (ROOT / target).exists(), target
    for path in DOCUMENTS[1:]:
        for target in re.findall(r"\]\(([^)#:]+)\)", path.read_text()):
            assert (path.parent / target).exists(), f"{path.name} links to missing {target}"


@pytest.mark.slow
@pytest.mark.parametrize("name,block", python_blocks(), ids=[name for name, _ in python_blocks()])
def test_example_runs(name, block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if block.startswith("# Keras backend: jax"):  # in a JAX process with 8 virtual CPU devices
        env = dict(os.environ, KERAS_BACKEND="jax", XLA_FLAGS="--xla_force_host_platform_device_count=8",
                   PYTHONPATH=str(ROOT))
        result = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        return
    exec(compile(block, name, "exec"), {})
    if "runs/ckpt" in block:  # a resumable example must also run a second time
        exec(compile(block, name + " (again)", "exec"), {})
