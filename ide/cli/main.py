"""`ide`: the command line. Thin: parse, call the API, print, return an exit code.

Each command is one declaration in `ide.cli.commands` (its arguments, its run, its text
printer). `main` parses the command line with the parser made of them, runs the command
named, and prints its result: as JSON with `--json`, or else through the command's text
printer. Errors go through `main` too: an `IDEError` is one line on stderr
(`{"error": ...}` with `--json`) and exit code 1, whatever the command.
"""

from __future__ import annotations

import json
import os
import sys

from ide.cli.command import print_json
from ide.cli.parser import UsageError, build_parser
from ide.errors import IDEError


def _fail(message: str, as_json: bool) -> None:
    print(json.dumps({"error": message}) if as_json else f"ide: error: {message}",
          file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit code: 0, 1 for an error it reports, 2 for a malformed
    command line, 130 when interrupted, 141 when its output pipe was closed."""
    argv = sys.argv[1:] if argv is None else list(argv)
    as_json = "--json" in argv
    try:
        try:
            args = build_parser().parse_args(argv)
        except UsageError as exc:
            if as_json:
                _fail(f"{exc.parser.prog}: {exc}", True)
            else:
                exc.parser.print_usage(sys.stderr)
                print(f"{exc.parser.prog}: error: {exc}", file=sys.stderr)
            return 2
        as_json = getattr(args, "json", False)
        result = args.run(args)
        if isinstance(result, int):
            return result
        if result is not None:
            print_json(result) if as_json else args.show(result)
        sys.stdout.flush()  # a closed pipe shows up here, inside the handler below
        return 0
    except IDEError as exc:
        _fail(str(exc), as_json)
        return 1
    except KeyboardInterrupt:
        print("ide: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `ide log | head`: the reader has gone. Stop quietly, as git does; stdout is pointed
        # at /dev/null so that Python's own flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
