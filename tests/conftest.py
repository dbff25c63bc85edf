import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

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
