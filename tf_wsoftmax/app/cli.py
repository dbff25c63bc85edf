"""`tf-wsoftmax` command line: W-Softmax and related margin losses, their experiments, faces and benchmarks.

Every argument and every file a command names is checked before any
framework starts; add --verbose (anywhere) to keep TensorFlow's start-up log.
"""

import argparse
import sys

from tf_wsoftmax.app.commands import COMMANDS
from tf_wsoftmax.app.commands import GROUPS
from tf_wsoftmax.app.commands.spec import UsageError
from tf_wsoftmax.app.commands.spec import check_paths
from tf_wsoftmax.app.commands.spec import select_backend
from tf_wsoftmax.app.commands.spec import suggestion

VERBOSE_HELP = "keep TensorFlow's start-up log (the tf-wsoftmax command hides it)"


def _shown(value):
    """A default as `--help` shows it: lists space-separated, booleans on / off."""
    if isinstance(value, (list, tuple)):
        return " ".join(_shown(v) for v in value)
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


class HelpFormatter(argparse.HelpFormatter):
    """Appends "(default: X)" to every flag with a default its help does not already state."""

    def _get_help_string(self, action):
        text = (action.help or "").replace(" (default: %(default)s)", "")  # BooleanOptionalAction's own suffix
        default = action.default
        if "default" in text or default is None or default is False or default is argparse.SUPPRESS:
            return text
        if not action.option_strings:  # positionals are required: no default
            return text
        return f"{text} (default: {_shown(default).replace('%', '%%')})"


class Parser(argparse.ArgumentParser):
    """argparse with "did you mean" for choices and for the flags of other commands.

    Python 3.11's argparse has no `suggest_on_error`; the closest choice
    (difflib) is named instead of the whole list where one is close.
    """

    def _check_value(self, action, value):
        if action.choices is not None and value not in action.choices:
            hint = suggestion(value, action.choices)
            if hint:
                raise argparse.ArgumentError(action, f"invalid choice: {value!r}{hint}")
        super()._check_value(action, value)

    def error(self, message):
        """Exits with code 2: the usage (one line where the full one is long) and one `error:` line."""
        usage = self.format_usage()
        if usage.count("\n") > 4:  # the generated loss flags make a screenful
            usage = f"usage: {self.prog} [flags] ({self.prog} --help lists them)\n"
        self.exit(2, f"{usage}{self.prog}: error: {message}\n")

    def parse_args(self, args=None, namespace=None):
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = getattr(parsed, "_command", None)
            parser = getattr(self, "_command_parsers", {}).get(command.name, self) if command else self
            parser.error(unrecognized_message(command, extras))
        return parsed


def unrecognized_message(command, extras):
    """What to say about arguments a command does not take: what to use, whose flag it is, or the closest flag.

    Args:
        command: the `Command` parsed (None before a command was named).
        extras: the arguments argparse did not recognise.

    Returns:
        One line.
    """
    flags = [extra.split("=", 1)[0] for extra in extras if extra.startswith("-")]
    if command is None or not flags:
        return f"unrecognized arguments: {' '.join(extras)}"
    flag = flags[0]
    if flag in command.replaced:
        return f"{command.name} does not take {flag}: {command.replaced[flag]}"
    owners = [other.name for other in COMMANDS if flag in other.option_strings]
    if owners:
        group = [name for name in owners if name.split()[0] == command.name.split()[0]]  # bench step -> bench heads
        shown = group or owners
        more = f" and {len(shown) - 3} more" if len(shown) > 3 else ""
        return f"{command.name} does not take {flag} (a flag of {', '.join(shown[:3])}{more})"
    return f"{command.name} does not take {flag}{suggestion(flag, command.option_strings)}"


def _add_command(subparsers, command):
    parser = subparsers.add_parser(
        command.name.split()[-1], help=command.help, description=command.description or command.help,
        formatter_class=HelpFormatter, allow_abbrev=False,
    )
    groups = {}
    for argument in command.arguments:
        target = parser
        if argument.group:
            if argument.group not in groups:
                groups[argument.group] = parser.add_argument_group(argument.group)
            target = groups[argument.group]
        options = dict(argument.options)
        if not argument.flags[0].startswith("-"):
            options.setdefault("metavar", argument.name)  # positionals in capitals, as messages name them
        target.add_argument(*argument.flags, **options)
    parser.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
    parser.set_defaults(_command=command)
    return parser


def build_parser():
    """Returns the argparse parser of `tf-wsoftmax`, built from the command table (imports no framework)."""
    from tf_wsoftmax import __version__

    parser = Parser(prog="tf-wsoftmax", description=__doc__, formatter_class=HelpFormatter, allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"tf-wsoftmax {__version__}",
                        help="print the version and exit")
    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups = {}
    parser._command_parsers = {}
    for command in COMMANDS:
        subparsers = commands
        if " " in command.name:
            group = command.name.split()[0]
            if group not in groups:
                group_parser = commands.add_parser(group, help=GROUPS[group], description=GROUPS[group],
                                                   formatter_class=HelpFormatter, allow_abbrev=False)
                groups[group] = group_parser.add_subparsers(dest=group, required=True, metavar=group.upper())
            subparsers = groups[group]
        parser._command_parsers[command.name] = _add_command(subparsers, command)
    return parser


def parse(argv=None):
    """Parses and checks `argv` without starting a framework.

    Args:
        argv: the arguments. Defaults to sys.argv[1:].

    Returns:
        The parsed namespace; its `_command` is the `Command` to run.

    Raises:
        SystemExit: argparse refused the arguments (code 2, usage and one error line).
        UsageError: a named file is missing or the flags break a command's rules.
    """
    args = build_parser().parse_args(argv)
    command = args._command
    check_paths(command, args)
    for check in command.checks:
        check(args)
    select_backend(args)
    return args


def main(argv=None, start_framework=None):
    """Entry point of the `tf-wsoftmax` console script.

    Args:
        argv: the arguments. Defaults to sys.argv[1:].
        start_framework: called with the parsed arguments after every check
            passed and before a command that needs Keras builds its config
            (`tf_wsoftmax_cli` starts TensorFlow quietly there). Defaults to None.

    Returns:
        The exit code: 0, or 2 for bad input (one `error: ...` line on stderr).
    """
    try:
        args = parse(argv)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    command = args._command
    if command.framework and start_framework is not None:
        start_framework(args)
    try:
        config = command.config(args) if command.config else None
        return command.run(config, args)
    except (ValueError, OSError, FloatingPointError) as error:  # bad input, unreadable / unwritable files: one line
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
