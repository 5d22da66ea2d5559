"""The parser of the `ide` command line: its own options (`--version`, `-C`), then a
subcommand for each of `ide.cli.commands.COMMANDS`, in their order. A malformed command
line raises `UsageError` (for `main` to report) instead of exiting.
"""

from __future__ import annotations

import argparse

import shtab

from ide import __version__
from ide.cli.commands import COMMANDS


class Parser(argparse.ArgumentParser):
    """argparse that raises on a malformed command line, so that `main` reports it (as JSON
    with --json); argparse's exit code 2 for it is kept."""

    def error(self, message):
        raise UsageError(self, message)


class UsageError(Exception):
    def __init__(self, parser, message):
        super().__init__(message)
        self.parser = parser


def build_parser() -> Parser:
    p = Parser(prog="ide", description="A dataset IDE: review suspected label errors, fix "
               "them, commit, retrain. `ide help` walks through it.")
    p.add_argument("--version", action="version", version=f"ide {__version__}")
    p.add_argument("-C", metavar="DIR", help="run as if started in DIR").complete = \
        shtab.DIRECTORY
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_to(sub)
    return p
