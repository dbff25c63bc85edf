"""TensorFlow's start-up log, hidden where the package would print it again.

TensorFlow writes its start-up log (oneDNN, CUDA driver probing, CPU
features) straight to file descriptor 2 while it is imported, before its own
log level applies (TF_CPP_MIN_LOG_LEVEL does not reach these lines), and
twice: its core library and its profiler plugin each carry a copy of the
logging. `silenced_stderr` points file descriptor 2 at /dev/null for a block
and restores it; Python exceptions are never hidden (stderr is restored
before they propagate). The `tf-wsoftmax` command starts TensorFlow inside
it, and so do the worker processes of `align_folder`, whose log would repeat
the parent's once per worker.
"""

import contextlib
import os
import sys


@contextlib.contextmanager
def silenced_stderr():
    """File descriptor 2 points at /dev/null inside the block (C++ logs included), and is restored after."""
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
