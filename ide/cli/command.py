"""A command of `ide`, declared once: its name, help text and arguments, what it runs and
how its result reads as text. Also what the commands share: the `--json` and `--author`
options, the workspace of `-C`, progress on stderr, how ID LABEL pairs are read, and how a
label and JSON are printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable

from ide.cli.progress import Progress
from ide.errors import IDEError
from ide.repo.workspace import Workspace


class Argument:
    """One argument of a command: what `add_argument` is given, and with COMPLETE what the
    shell completes it with (shtab's FILE or DIRECTORY, or a shell function by shell)."""

    def __init__(self, *flags: str, complete=None, **options):
        self.flags, self.complete, self.options = flags, complete, options

    def but(self, **options) -> Argument:
        """The same argument with OPTIONS changed (its help in one command, say)."""
        return Argument(*self.flags, complete=self.complete, **self.options | options)

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        action = parser.add_argument(*self.flags, **self.options)
        if self.complete:
            action.complete = self.complete


JSON = Argument("--json", action="store_true", help="machine-readable output (and errors as "
                '{"error": ...} on stderr)')
AUTHOR = Argument("--author", help='"Name <email>" (default: git\'s user)')


@dataclass(frozen=True)
class Command:
    """`ide NAME`. HELP is plain text. RUN takes the parsed arguments and returns the result
    as plain data (printed by `main`: as JSON with --json, else by SHOW), an exit code, or
    None when it has printed what it had to say. A command with SHOW takes --json; with
    AUTHOR, --author (before its ARGUMENTS)."""

    name: str
    help: str
    run: Callable
    show: Callable | None = None
    arguments: tuple[Argument, ...] = ()
    author: bool = False

    def add_to(self, commands: argparse._SubParsersAction) -> None:
        """Add this command to COMMANDS, the subcommands of the `ide` parser."""
        # argparse %-formats the help of the command list, not the command's description
        parser = commands.add_parser(self.name, help=self.help.replace("%", "%%"),
                                     description=self.help)
        parser.set_defaults(run=self.run, show=self.show)
        if self.show:
            JSON.add_to(parser)
        if self.author:
            AUTHOR.add_to(parser)
        for argument in self.arguments:
            argument.add_to(parser)


def workspace(args) -> Workspace:
    """The workspace around `-C DIR`, or around the current directory."""
    return Workspace.find(args.C)


def progress(args, *, logs: bool = True):
    """Progress on stderr, to use in a `with`: a live bar on a terminal; elsewhere one line
    per step when LOGS (a long training), else nothing (None), and never with --json
    (stderr then holds at most the error)."""
    if sys.stderr.isatty():
        return Progress(sys.stderr, live=True)
    if logs and not getattr(args, "json", False):
        return Progress(sys.stderr, live=False)
    return nullcontext()


def pairs(values: list[str]) -> dict[str, str]:
    """`ID LABEL [ID LABEL ...]` as {id: label}."""
    if not values or len(values) % 2:
        raise IDEError("give pairs of ID LABEL")
    return dict(zip(values[::2], values[1::2]))


def label_text(label: str | None) -> str:
    """A label as text: None is an absent example, "" an unlabelled one."""
    return "(none)" if label is None else label or "(unlabelled)"


def print_json(data) -> None:
    print(json.dumps(data, indent=1))
