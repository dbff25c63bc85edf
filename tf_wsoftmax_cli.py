"""`tf-wsoftmax`'s entry point: the arguments checked first, then a quiet start-up, then the command.

TensorFlow prints its start-up log (oneDNN, CUDA driver probing, CPU features)
straight to file descriptor 2 while it is imported, before its own log level
applies, and twice (`tf_wsoftmax._quiet`). This module lives outside the
package so that it runs before TensorFlow is imported:
`tf_wsoftmax.app.cli.main` parses and checks every argument and named file
without any framework (a usage error is reported at once), then calls
`start_quietly`, which imports TensorFlow and lists its devices with file
descriptor 2 pointed at /dev/null, then restores it. `--verbose` (anywhere)
keeps the log. Python errors are never hidden: stderr is restored before any
exception propagates.
"""

import os
import sys


def start_quietly(args):
    """Imports TensorFlow with its start-up log hidden, unless --verbose or Keras runs on another backend.

    Args:
        args: the parsed and checked arguments (`tf_wsoftmax.app.cli.parse`).
    """
    from tf_wsoftmax._quiet import silenced_stderr
    from tf_wsoftmax.app.commands.spec import keras_backend

    if getattr(args, "verbose", False) or keras_backend(args) != "tensorflow":
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with silenced_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()


def main(argv=None):
    """Runs the command line (`tf_wsoftmax.app.cli.main`) with the quiet start-up."""
    from tf_wsoftmax.app.cli import main as run

    return run(sys.argv[1:] if argv is None else list(argv), start_framework=start_quietly)


if __name__ == "__main__":
    sys.exit(main())
