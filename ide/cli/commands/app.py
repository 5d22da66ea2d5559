"""The commands that start the app: `ide serve` (with the retrain worker) and `demo` (a
workspace of handwritten digits, trained, then served).
"""

from __future__ import annotations

import sys
from pathlib import Path

import shtab

from ide.cli.command import Argument, Command, workspace
from ide.cli.options import LISTEN, PULL_EVERY
from ide.cli.progress import Progress
from ide.repo import versions


def _serve(args):
    from ide.serve import server

    return server.serve(workspace(args), host=args.host, port=args.port or server.DEFAULT_PORT,
                        pull_every=args.pull_every, remote=args.pull_from)


SERVE = Command("serve", "the app (http://127.0.0.1:8501) plus the retrain worker", _serve,
                arguments=(*PULL_EVERY, *LISTEN))


def _demo(args):
    from ide.learn import runs
    from ide.ops import demo
    from ide.serve import server

    ws, flips = demo.build(Path(args.dir).expanduser() if args.dir else demo.default_dir())
    print(f"ide: demo workspace {ws.root}: " + (
        f"{len(flips)} labels of `digits` flipped at random in the last commit; training it "
        "now" if flips else "built before, trained if need be"), file=sys.stderr)
    with Progress(sys.stderr) as bar:
        res = runs.retrain(ws, versions.resolve(ws, "digits"), progress=bar)
    m = res["metrics"]
    print(f"out-of-fold accuracy {m['accuracy']:.4f}, {m['suspects']} suspected label "
          "errors", file=sys.stderr)
    if args.no_serve:
        return 0
    return server.serve(ws, host=args.host, port=args.port)  # port None: 8501 or a free one


DEMO = Command(
    "demo", "a demo workspace of real handwritten digits with 5% label noise, trained, then "
    "served", _demo, arguments=(
        Argument("dir", nargs="?", help="where to build it (default: ~/ide-demo)",
                 complete=shtab.DIRECTORY),
        Argument("--no-serve", action="store_true", help="build and train only"),
        *LISTEN))
