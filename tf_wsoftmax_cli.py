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
    """Imports TensorFlow with its start-up log hidden, unless --verbose.

    On another Keras backend TensorFlow is imported too where it is installed, since Keras
    imports it anyway (`keras.utils.set_random_seed` seeds it, `keras.utils` reads files through
    `tf.io.gfile`): quietly here rather than with its log halfway through a run. Where it is not
    installed (or cannot be imported), nothing happens.

    Args:
        args: the parsed and checked arguments (`tf_wsoftmax.app.cli.parse`).
    """
    import importlib.util

    from tf_wsoftmax._quiet import silenced_stderr
    from tf_wsoftmax.app.commands.spec import keras_backend

    if getattr(args, "verbose", False):
        return
    tensorflow_backend = keras_backend(args) == "tensorflow"
    if not tensorflow_backend:
        try:
            if importlib.util.find_spec("tensorflow") is None:
                return
        except ImportError:  # an import hook that refuses it
            return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with silenced_stderr():
        try:
            import tensorflow as tf
        except ImportError:
            if tensorflow_backend:
                raise
            return
        if tensorflow_backend:
            tf.config.list_physical_devices()


def main(argv=None):
    """Runs the command line (`tf_wsoftmax.app.cli.main`) with the quiet start-up."""
    from tf_wsoftmax.app.cli import main as run

    return run(sys.argv[1:] if argv is None else list(argv), start_framework=start_quietly)


if __name__ == "__main__":
    sys.exit(main())
