"""Runs a module's `main` with only what a JAX machine has: no TensorFlow and none of its companions.

Usage: python -m tests.jax_only MODULE [ARGS...]

Used by tests that show a path works where only JAX, Keras (and Keras' own
dependencies) and NumPy are installed: the GPU machines lent to this project
carry no TensorFlow, and a command run there should not need the packages
that only the TensorFlow side of the project uses.
"""

import importlib
import importlib.abc
import sys


ABSENT = (
    "tensorflow", "tensorflow_datasets", "tensorboard", "tf_keras", "keras_cv", "sklearn", "matplotlib",
    "tqdm", "PIL", "skimage", "mtcnn",
)


class _BlockTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ABSENT:
            raise ImportError(f"{name} is blocked in this test (a JAX-only machine has no {name.split('.')[0]})")
        return None


if __name__ == "__main__":
    sys.meta_path.insert(0, _BlockTensorFlow())
    module = importlib.import_module(sys.argv[1])
    sys.exit(module.main(sys.argv[2:]))
