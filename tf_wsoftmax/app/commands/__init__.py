"""The table of `tf-wsoftmax` commands: one `Command` per subcommand, one module per group.

Each row holds its help, its arguments, its checks, its config builder and
its runner (`spec.Command`); `tf_wsoftmax.app.cli` builds the parser from the
table, checks every argument and named file, and only then starts a
framework. Importing the table imports no Keras, TensorFlow, JAX or NumPy.
"""

from tf_wsoftmax.app.commands import bench
from tf_wsoftmax.app.commands import demo
from tf_wsoftmax.app.commands import experiments
from tf_wsoftmax.app.commands import faces

COMMANDS = demo.COMMANDS + experiments.COMMANDS + faces.COMMANDS + bench.COMMANDS
# Commands with subcommands ("bench heads"): their name -> help.
GROUPS = dict([bench.GROUP])

__all__ = ["COMMANDS", "GROUPS"]
