"""Put this folder on PYTHONPATH to make TensorFlow unimportable in a Python process (see no_tensorflow.py)."""

import importlib.abc
import sys

BLOCKED = ("tensorflow", "tensorflow_datasets", "tf_keras", "tensorboard")


class BlockTensorFlow(importlib.abc.MetaPathFinder):
    """An import of TensorFlow (or its satellites) fails, as where it is not installed."""

    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by tests/app/without_tensorflow)")
        return None


sys.meta_path.insert(0, BlockTensorFlow())
