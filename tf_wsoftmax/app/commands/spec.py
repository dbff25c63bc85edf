"""What a command of the table is: its arguments, checks, config builder and runner.

Plain data and the standard library only: the command line builds its parser
and checks every argument from these before any framework is imported. A
command's `config` and `run` import the library (and so Keras) when called.
"""

import argparse
import dataclasses
import difflib
import math
import os
import typing


class UsageError(ValueError):
    """Bad input found before anything ran: one line, naming the flag or file and the problem."""


@dataclasses.dataclass(frozen=True)
class Argument:
    """One argument of a command, as `argparse.ArgumentParser.add_argument` takes it.

    Args:
        flags: the option strings ("--epochs") or the positional's name ("src").
        options: add_argument's keywords (help, type, default, choices, nargs, action, ...).
        exists: "file", "folder" or "path" (either): the named path(s) must exist, checked
            before any framework import. Defaults to None (not checked).
        group: the title of the help section it is listed under. Defaults to None.
    """

    flags: tuple
    options: dict
    exists: str = None
    group: str = None

    @property
    def dest(self):
        """The attribute of the parsed namespace."""
        if "dest" in self.options:
            return self.options["dest"]
        return max(self.flags, key=len).lstrip("-").replace("-", "_")

    @property
    def name(self):
        """How messages name it: the longest flag, or the positional in capitals."""
        flag = max(self.flags, key=len)
        return flag if flag.startswith("-") else flag.upper()


def arg(*flags, exists=None, group=None, **options):
    """An `Argument` (see there): `arg("--epochs", type=positive_int, default=20, help=...)`."""
    if exists not in (None, "file", "folder", "path"):
        raise ValueError(f"`exists` must be 'file', 'folder' or 'path'. Received: {exists!r}")
    return Argument(tuple(flags), options, exists, group)


@dataclasses.dataclass(frozen=True)
class Command:
    """One subcommand of `tf-wsoftmax`: a row of the table.

    Args:
        name: "train", or "bench heads" for a subcommand of a group.
        help: one line for the list of commands.
        arguments: its `Argument`s (only these are accepted).
        run: `run(config, args) -> exit code`; imports the library when called.
        config: `config(args)` builds the library's config object (its own
            checks run there); None: `run` gets None. Defaults to None.
        checks: `check(args)` functions raising `UsageError`, run after parsing and
            before any framework import (cross-flag rules). Defaults to ().
        framework: whether `run` needs Keras (False: no framework is started). Defaults to True.
        replaced: flag -> what to use instead, for the flags of the commands it
            resembles that it sets itself (e.g. {"--alpha": "--alphas"}). Defaults to {}.
        description: a paragraph for its `--help`. Defaults to `help`.
    """

    name: str
    help: str
    arguments: tuple
    run: typing.Callable
    config: typing.Callable = None
    checks: tuple = ()
    framework: bool = True
    replaced: dict = dataclasses.field(default_factory=dict)
    description: str = None

    @property
    def option_strings(self):
        """Every flag it accepts."""
        return [flag for argument in self.arguments for flag in argument.flags if flag.startswith("-")]


# Argument types: each returns the value or raises argparse.ArgumentTypeError with the problem
# (argparse reports "argument --flag: <problem>" and exits with code 2).


def integer_at_least(minimum):
    """An argparse type: an int >= `minimum` (sizes, counts and periods: 0 or negatives refused)."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer")
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


positive_int = integer_at_least(1)
non_negative_int = integer_at_least(0)


def real_number(low=None, high=None, low_open=False, high_open=False):
    """An argparse type: a finite float within the bounds (NaN and inf refused).

    Args:
        low, high: the bounds (None: unbounded).
        low_open, high_open: whether the bound itself is excluded.

    Returns:
        The type (a callable of the flag's text).
    """

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number")
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        too_low = low is not None and (value < low or (low_open and value == low))
        too_high = high is not None and (value > high or (high_open and value == high))
        if too_low or too_high:
            raise argparse.ArgumentTypeError(f"must be {bounds_text(low, high, low_open, high_open)}, got {text}")
        return value

    return parse


def bounds_text(low, high, low_open=False, high_open=False):
    """The bounds in words: "in (0, 1]", "> 0", ">= 0" or "a finite number"."""
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return "a finite number"


positive_float = real_number(low=0.0, low_open=True)
non_negative_float = real_number(low=0.0)
open_unit_interval = real_number(low=0.0, high=1.0, low_open=True, high_open=True)
unit_interval = real_number(low=0.0, high=1.0)


def suggestion(word, candidates):
    """" (did you mean 'x'?)" for the closest of `candidates` to `word` (difflib), else ""."""
    close = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_paths(command, args):
    """Raises `UsageError` for the first path an argument names that does not exist as it must.

    Args:
        command: the `Command`.
        args: the parsed namespace.
    """
    for argument in command.arguments:
        value = getattr(args, argument.dest, None)
        if argument.exists is None or value is None:
            continue
        for path in value if isinstance(value, (list, tuple)) else [value]:
            if not os.path.exists(path):
                kind = {"file": "file", "folder": "folder", "path": "file or folder"}[argument.exists]
                raise UsageError(f"{argument.name} {path}: no such {kind}")
            if argument.exists == "file" and os.path.isdir(path):
                raise UsageError(f"{argument.name} {path}: is a folder, not a file")
            if argument.exists == "folder" and not os.path.isdir(path):
                raise UsageError(f"{argument.name} {path}: is not a folder")


def keras_backend(args=None):
    """The Keras backend a run will use, found without importing Keras.

    `--backend` when given, else Keras' own rule: KERAS_BACKEND, then the
    "backend" of keras.json (in KERAS_HOME, else ~/.keras), else "tensorflow".
    Once Keras is imported, its backend.

    Args:
        args: the parsed namespace (its `backend`, if any). Defaults to None.

    Returns:
        The backend's name.
    """
    import sys

    if "keras" in sys.modules and hasattr(sys.modules["keras"], "backend"):
        return sys.modules["keras"].backend.backend()
    if getattr(args, "backend", None):
        return args.backend
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        import json

        with open(os.path.join(home, "keras.json")) as f:
            return json.load(f).get("backend") or "tensorflow"
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def select_backend(args):
    """Makes `--backend` the backend Keras starts on, or refuses it when Keras already runs another.

    Raises:
        UsageError: Keras was imported on another backend in this process.
    """
    import sys

    wanted = getattr(args, "backend", None)
    if not wanted:
        return
    if "keras" in sys.modules and hasattr(sys.modules["keras"], "backend"):
        running = sys.modules["keras"].backend.backend()
        if running != wanted:
            raise UsageError(
                f"--backend {wanted}: Keras was started on {running!r} in this process. Run through the "
                f"`tf-wsoftmax` command (it starts Keras on --backend) or set KERAS_BACKEND={wanted}."
            )
        return
    os.environ["KERAS_BACKEND"] = wanted
