"""The library never imports the application, and data flows one way through the library."""

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "tf_wsoftmax"
LIBRARY = ("ops", "layers", "losses", "distribution", "models", "training", "data", "eval", "export", "theory")
# A module may import only from its own folder and the folders before it (STYLE.md's chain).
ORDER = ("ops", "theory", "layers", "losses", "distribution", "models", "training", "data", "eval", "export")


def imported_modules(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "tf_wsoftmax":
            yield from (f"tf_wsoftmax.{alias.name}" for alias in node.names)  # from tf_wsoftmax import ops
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tf_wsoftmax"):
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.startswith("tf_wsoftmax"))


def library_files():
    for name in LIBRARY:
        target = PACKAGE / name
        yield from ([target.with_suffix(".py")] if target.with_suffix(".py").exists() else target.rglob("*.py"))


def test_the_library_never_imports_the_application():
    offenders = [
        f"{path.relative_to(PACKAGE.parent)} imports {module}"
        for path in library_files()
        for module in imported_modules(path)
        if module == "tf_wsoftmax.app" or module.startswith("tf_wsoftmax.app.")
    ]
    assert offenders == []


def test_library_imports_run_one_way():
    """ops <- theory <- layers <- losses <- models <- training <- data <- eval <- export: nothing
    imports a folder to its right (data and eval read models and training, never the reverse)."""
    rank = {name: index for index, name in enumerate(ORDER)}
    offenders = []
    for path in library_files():
        own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        for module in imported_modules(path):
            parts = module.split(".")
            target = parts[1] if len(parts) > 1 else None
            if target in rank and rank[target] > rank[own]:
                offenders.append(f"{path.relative_to(PACKAGE.parent)} imports {module}")
    assert offenders == []


def test_the_library_trains_on_jax_without_tensorflow():
    """ops, layers, losses, distribution and MarginClassifier import and `fit` on JAX with TensorFlow unimportable."""
    import os
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from tests.jax_only import _BlockTensorFlow\n"
        "sys.meta_path.insert(0, _BlockTensorFlow())\n"
        "import numpy as np, keras\n"
        "import tf_wsoftmax, tf_wsoftmax.distribution\n"
        "head = tf_wsoftmax.NormalizedDense(5, alpha=1.0)\n"
        "model = keras.Sequential([keras.Input((4,)), head])\n"
        "model.compile('sgd', loss=tf_wsoftmax.WSoftmaxLoss(head))\n"
        "model.fit(np.ones((8, 4), 'float32'), np.arange(8) % 5, verbose=0)\n"
        "from tf_wsoftmax.training import MarginClassifier\n"
        "from tf_wsoftmax.losses import build_loss\n"
        "head, centres = build_loss('center', 5)\n"
        "classifier = MarginClassifier(keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)]), head, centres)\n"
        "classifier.compile('sgd', metrics=['accuracy'])\n"
        "classifier.fit(np.ones((8, 4), 'float32'), np.arange(8) % 5, verbose=0, validation_data=(np.ones((8, 4)), np.arange(8) % 5))\n"
        "assert 'tensorflow' not in sys.modules\n"
    )
    env = dict(os.environ, KERAS_BACKEND="jax")
    result = subprocess.run([sys.executable, "-c", code], cwd=PACKAGE.parent, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
