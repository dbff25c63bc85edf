"""TensorFlow's start-up log: the package prints it no more often than TensorFlow itself does.

TensorFlow writes it to file descriptor 2 while it is imported, twice (its core
library and its profiler plugin each log), before TF_CPP_MIN_LOG_LEVEL applies:
a bare `import keras` script shows both copies, and a script using the package
shows the same two, not more. `tf-wsoftmax` hides them, and the worker
processes of `align --workers N` hide theirs (tests/app/test_faces.py).
"""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
MARK = "All log messages before absl::InitializeLog() is called"


def start_up_logs(code, tmp_path):
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, PYTHONPATH=str(ROOT), KERAS_BACKEND="tensorflow"))
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stderr.count(MARK)


@pytest.mark.slow
def test_a_script_using_the_package_logs_the_start_up_as_often_as_a_bare_keras_script(tmp_path):
    fit = ("model.compile('sgd', loss={loss}); "
           "model.fit(np.ones((8, 4), 'float32'), np.arange(8) % 5, verbose=0)")
    bare = ("import numpy as np, keras; model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5)]); "
            + fit.format(loss="keras.losses.SparseCategoricalCrossentropy(from_logits=True)"))
    package = ("import numpy as np, keras, tf_wsoftmax as tw; head = tw.NormalizedDense(5, alpha=1.0); "
               "model = keras.Sequential([keras.Input((4,)), head]); " + fit.format(loss="tw.WSoftmaxLoss(head)"))
    assert start_up_logs(package, tmp_path) == start_up_logs(bare, tmp_path)
