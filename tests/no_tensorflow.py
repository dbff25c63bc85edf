"""Runs a Python module's `main` or a script with TensorFlow made unimportable.

Usage: python -m tests.no_tensorflow MODULE [ARGS...]

Used by tests that show a path works where only JAX and Keras are installed
(the GPU machines lent to this project carry no TensorFlow).
"""

import importlib
import importlib.abc
import sys


class _BlockTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError(f"TensorFlow is blocked in this test (import of {name})")
        return None


if __name__ == "__main__":
    sys.meta_path.insert(0, _BlockTensorFlow())
    module = importlib.import_module(sys.argv[1])
    sys.exit(module.main(sys.argv[2:]))
