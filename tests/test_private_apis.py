"""The library reaches private Keras / TensorFlow names only where docs/private_apis.md says why."""

import pathlib
import re

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "tf_wsoftmax"
DOC = PACKAGE.parent / "docs" / "private_apis.md"

# Imports of private modules, and private attributes of Keras / TensorFlow objects.
PRIVATE = re.compile(
    r"keras\.src|tensorflow\.python|\b_flatten_layers\b|\b_loss_tracker\b|\._layout\b|\b_compile_loss\b"
    r"|\b_losses_override\b|in_symbolic_scope"
)

ALLOWED = {
    ("ops/_tensorflow.py", "tensorflow.python"),
    ("models/face.py", "tensorflow.python"),
    ("distribution.py", "._layout"),
}


def private_uses():
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for line in path.read_text().splitlines():
            code = line.split("#", 1)[0]
            for match in PRIVATE.finditer(code):
                found.add((str(path.relative_to(PACKAGE)), match.group(0)))
    return found


def test_private_uses_are_the_documented_ones():
    assert private_uses() == ALLOWED


def test_each_private_use_is_explained_in_the_docs():
    text = DOC.read_text()
    for path, name in ALLOWED:
        assert f"`tf_wsoftmax/{path}`" in text and f"`{name}" in text, (path, name)
