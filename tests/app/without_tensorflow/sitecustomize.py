"""Put this folder on PYTHONPATH, with TF_WSOFTMAX_BLOCK_TENSORFLOW=1, to make TensorFlow unimportable.

Python imports `sitecustomize` at start-up; the variable keeps a plain import of this file (pytest's
--doctest-modules collects it) from blocking TensorFlow in the importing process. See no_tensorflow.py.
"""

import importlib.abc
import os
import sys

BLOCKED = ("tensorflow", "tensorflow_datasets", "tf_keras", "tensorboard")


class BlockTensorFlow(importlib.abc.MetaPathFinder):
    """An import of TensorFlow (or its satellites) fails, as where it is not installed."""

    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by tests/app/without_tensorflow)")
        return None


if os.environ.get("TF_WSOFTMAX_BLOCK_TENSORFLOW") == "1":
    sys.meta_path.insert(0, BlockTensorFlow())
