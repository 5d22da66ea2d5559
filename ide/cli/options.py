"""The arguments that several commands of `ide` take, each declared once, and the shell
functions that complete a dataset name and an issue kind.
"""

from ide.cli.command import Argument
from ide.learn.train import DEVICES
from ide.ops.issues import KINDS

# Dataset names complete from the `datasets/` folder of the workspace around the current
# directory (plain shell, so that a Tab does not start Python).
DATASETS = {"bash": "_ide_datasets", "zsh": "_ide_datasets"}
COMPLETE_PREAMBLE = {
    "bash": '''_ide_datasets() {
  local d="$PWD"
  while [ "$d" != / ] && [ ! -d "$d/datasets" ]; do d="$(dirname "$d")"; done
  compgen -W "$(command ls "$d/datasets" 2>/dev/null)" -- "$1"
}''',
    "zsh": '''_ide_datasets() {
  local d=$PWD
  while [[ $d != / && ! -d $d/datasets ]]; do d=${d:h}; done
  compadd -- ${(f)"$(command ls $d/datasets 2>/dev/null)"}
}'''}
# `ide issues --kind`: no argparse `choices` (an unknown kind is a one-line error), so the
# kinds complete from a shell function of their own.
ISSUE_KINDS = {"bash": "_ide_issue_kinds", "zsh": "_ide_issue_kinds"}
COMPLETE_PREAMBLE["bash"] += f'''
_ide_issue_kinds() {{ compgen -W "{' '.join(KINDS)}" -- "$1"; }}'''
COMPLETE_PREAMBLE["zsh"] += f'''
_ide_issue_kinds() {{ compadd -- {' '.join(KINDS)}; }}'''

DATASET = Argument("name", help="the dataset", complete=DATASETS)
# status: every dataset when none is named; retrain: the only one there is
OPTIONAL_DATASET = Argument("name", nargs="?", complete=DATASETS)
REV = Argument("--rev", default="HEAD")
TOP = Argument("--top", type=int, default=20, help="how many (0: all)")
# No `choices`: an unknown device is training's one-line error (exit 1), and a retrain
# whose results are stored takes any.
DEVICE = Argument("--device", default="auto", help="auto (CUDA when present), "
                  + " or ".join(d for d in DEVICES if d != "auto"))
REMOTE = Argument("--remote", default="origin")
PULL_EVERY = (
    Argument("--pull-every", type=float, metavar="SECONDS", help="pull from --pull-from "
             "that often (fast-forward only): teammates' commits and a trainer's results "
             "arrive by themselves"),
    Argument("--pull-from", default="origin", metavar="REMOTE",
             help="the remote of --pull-every (default origin)"))
LISTEN = (
    Argument("--host", default="127.0.0.1",
             help="address to listen on; any but loopback needs IDE_PASSWORD"),
    Argument("--port", type=int, help="port to serve on (default: 8501; if it is busy, `ide "
             "serve` says so and `ide demo` takes a free one)"))
