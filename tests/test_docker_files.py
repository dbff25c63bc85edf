"""The docker/ files cannot be built here (no Docker engine); check what can be checked without one."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def copied_sources(dockerfile):
    sources = []
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY "):
            sources += line.split()[1:-1]
    return sources


def test_training_image_copies_everything_the_install_needs():
    """Every file COPY names exists, and the image gets the console entry
    module (setup.py's py_modules) and the package, or `tf-wsoftmax` breaks."""
    sources = copied_sources(ROOT / "docker" / "Dockerfile.train")
    for source in sources:
        assert (ROOT / source).exists(), source
    modules = re.search(r"py_modules=\[([^\]]*)\]", (ROOT / "setup.py").read_text()).group(1)
    for module in re.findall(r'"([^"]+)"', modules):
        assert f"{module}.py" in sources, f"docker/Dockerfile.train does not copy {module}.py"
    assert "tf_wsoftmax" in sources and "requirements.txt" in sources and "setup.py" in sources


def test_serving_image_and_compose_point_at_existing_files():
    for source in copied_sources(ROOT / "docker" / "Dockerfile.serving"):
        if not source.startswith("exported"):  # produced by `tf-wsoftmax export`
            assert (ROOT / source).exists(), source
    compose = (ROOT / "docker" / "docker-compose.yml").read_text()
    for dockerfile in re.findall(r"dockerfile: (\S+)", compose):
        assert (ROOT / dockerfile).exists(), dockerfile
