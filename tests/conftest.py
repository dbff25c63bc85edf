import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# JAX's persistent compilation cache, for this process and the subprocesses the tests start (set before
# Keras imports JAX): the same small steps compile again and again across tests and processes; a
# cached executable is the one a fresh compilation would produce.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(tempfile.gettempdir(), "tf_wsoftmax_tests_jax_cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

# A `sitecustomize` for child processes that must not import TensorFlow (tests/app/no_tensorflow.py),
# not a test module: --doctest-modules would import it into the test process.
collect_ignore = ["app/without_tensorflow"]

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_and_policy():
    keras.utils.set_random_seed(1234)
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# The library's backend-neutral doctests (ops, layers, losses, distribution) run in the JAX pass too
# (`make test`): marked here, since a doctest item carries no marker of its own.
NEUTRAL_DOCTESTS = ("tf_wsoftmax/ops/", "tf_wsoftmax/layers/", "tf_wsoftmax/losses/", "tf_wsoftmax/distribution.py")


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = str(item.path).replace(os.sep, "/")
        if isinstance(item, pytest.DoctestItem) and any(part in path for part in NEUTRAL_DOCTESTS):
            item.add_marker(pytest.mark.backend_neutral)
