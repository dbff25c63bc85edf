"""Runs `tf-wsoftmax` on Keras-JAX with TensorFlow made unimportable (like the GPU machines' image).

Usage: python tests/app/no_tensorflow.py <tf-wsoftmax arguments>
       python tests/app/no_tensorflow.py --each COMMANDS.json   (a JSON list of argument lists, one process)
Other programs: `environment()` (tests/app/without_tensorflow on PYTHONPATH and TF_WSOFTMAX_BLOCK_TENSORFLOW=1).
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
WITHOUT_TENSORFLOW = os.path.join(HERE, "without_tensorflow")


def environment(**extra):
    """os.environ for a child process on Keras-JAX in which TensorFlow cannot be imported."""
    path = os.environ.get("PYTHONPATH")
    return dict(os.environ, KERAS_BACKEND="jax", MPLBACKEND="Agg", TF_WSOFTMAX_BLOCK_TENSORFLOW="1",
                PYTHONPATH=WITHOUT_TENSORFLOW + (os.pathsep + path if path else ""), **extra)


if __name__ == "__main__":
    os.environ["TF_WSOFTMAX_BLOCK_TENSORFLOW"] = "1"
    sys.path.insert(0, WITHOUT_TENSORFLOW)
    import sitecustomize  # noqa: F401  (installs the blocker if the site did not)

    os.environ["KERAS_BACKEND"] = "jax"
    sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
    import tf_wsoftmax_cli

    if sys.argv[1:2] == ["--each"]:
        with open(sys.argv[2]) as f:
            for args in json.load(f):
                code = tf_wsoftmax_cli.main(args)
                if code:
                    sys.exit(f"{args[0]} exited with {code}")
        sys.exit(0)
    sys.exit(tf_wsoftmax_cli.main(sys.argv[1:]))
