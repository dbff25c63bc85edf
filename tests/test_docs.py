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


MENTIONED = re.compile(r"\b(?:tf_wsoftmax|tw)(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
FROM_IMPORT = re.compile(r"from (tf_wsoftmax(?:\.[a-z_]+)*) import (?:\(([^)]*)\)|([A-Za-z0-9_, ]+))")


def mentioned_names(text):
    """`tf_wsoftmax.x.y` / `tw.x.y` in the text and the names of its `from tf_wsoftmax... import` lines."""
    names = {name.replace("tw.", "tf_wsoftmax.", 1) if name.startswith("tw.") else name
             for name in MENTIONED.findall(text)}
    for module, grouped, inline in FROM_IMPORT.findall(text):
        imported = [name.split(" as ")[0].strip() for name in (grouped or inline).replace("\n", " ").split(",")]
        names |= {f"{module}.{name}" for name in imported if name}
    return names


def resolves(dotted):
    """Whether `a.b.c` is a module or an attribute reached from `tf_wsoftmax` as `import tf_wsoftmax` allows."""
    import importlib

    parts = dotted.split(".")
    value = importlib.import_module(parts[0])
    for index, part in enumerate(parts[1:], start=1):
        try:
            value = getattr(value, part)
        except AttributeError:
            try:
                value = importlib.import_module(".".join(parts[: index + 1]))
            except ImportError:
                return False
    return True


def test_every_module_and_name_the_docs_mention_exists():
    """The docs' `tf_wsoftmax.x.y` / `tw.x.y` names and `from tf_wsoftmax... import` lines all resolve;
    the subpackages also resolve as attributes after a bare `import tf_wsoftmax as tw` (PEP 562)."""
    missing = sorted(
        f"{path.relative_to(ROOT)}: {name}"
        for path in DOCUMENTS + sorted((ROOT / "experiments").glob("*.py"))
        for name in mentioned_names(path.read_text())
        if not resolves(name)
    )
    assert missing == []


def test_the_subpackages_resolve_after_a_bare_import_without_starting_keras():
    code = (
        "import sys\nimport tf_wsoftmax as tw\nassert 'keras' not in sys.modules\n"
        "for name in ('layers', 'losses', 'training', 'ops', 'data', 'eval', 'models', 'export', 'theory', "
        "'distribution'):\n    getattr(tw, name)\n"
        "assert tw.layers.NormalizedDense and tw.losses.WSoftmaxLoss and tw.training.TrainStep and tw.load_model\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
