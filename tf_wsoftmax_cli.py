"""`tf-wsoftmax`'s entry point: a quiet start-up, then `tf_wsoftmax.app.cli.main`.

TensorFlow prints its start-up log (oneDNN, CUDA driver probing, CPU features)
straight to file descriptor 2 while it is imported and its devices are set up,
some of it before its own log level applies. This module lives outside the
package so that it runs before TensorFlow is imported: unless `--verbose` is
given, it imports TensorFlow and lists its devices with file descriptor 2
pointed at /dev/null (and TF_CPP_MIN_LOG_LEVEL=3), then restores it. Python
errors are never hidden: stderr is restored before any exception propagates.
"""

import contextlib
import os
import sys


@contextlib.contextmanager
def _silenced_stderr():
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


def _requested_backend(argv):
    """The value of `--backend X` / `--backend=X` in argv, or None."""
    for i, arg in enumerate(argv):
        if arg == "--backend" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--backend="):
            return arg.split("=", 1)[1]
    return None


def main(argv=None):
    """Runs the command line; `--verbose` (anywhere) keeps TensorFlow's start-up log.

    `--backend jax` (of `bench heads`) sets KERAS_BACKEND before Keras is
    imported, and TensorFlow is then not imported at all.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    backend = _requested_backend(argv)
    if backend:
        os.environ["KERAS_BACKEND"] = backend
    if "--verbose" in argv:
        argv.remove("--verbose")
    elif "-h" in argv or "--help" in argv or len(argv) == 0:
        pass  # the parser is plain data: --help starts no framework
    elif os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        with _silenced_stderr():
            import tensorflow as tf

            tf.config.list_physical_devices()
    from tf_wsoftmax.app.cli import main as run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
